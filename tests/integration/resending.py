"""resending.py - collectors as plants run them: paho (Debian's python3-paho-mqtt) publishing
QoS 1, reconnecting by itself when its broker goes away and resending every message not yet
acknowledged (paho keeps them and sends them again, DUP set, after the reconnect). Each message's
acknowledgement is counted once, by message, however often it was sent or acknowledged."""
import threading
import time

import paho.mqtt.client as mqtt

from test_storage import lathe_msg


class ResendingCollector:
    def __init__(self, port, cnc_id, first=0):
        self.cnc_id, self.first = cnc_id, first
        self.lock = threading.Lock()
        self.index_of_mid = {}
        self.acked_mids = set()
        self.sent = 0
        self.connects = 0
        self.stop_flag = threading.Event()
        self.client = mqtt.Client(client_id=f"collector-{cnc_id}", clean_session=True,
                                  protocol=mqtt.MQTTv311)
        self.client.max_inflight_messages_set(20)
        self.client.max_queued_messages_set(0)  # no bound: nothing unsent is dropped
        self.client.reconnect_delay_set(0.05, 0.5)
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish
        self.client.connect_async("127.0.0.1", port, keepalive=5)
        self.client.loop_start()

    def _on_connect(self, client, userdata, flags, rc):
        if rc == 0:
            with self.lock:
                self.connects += 1

    def _on_publish(self, client, userdata, mid):
        with self.lock:
            self.acked_mids.add(mid)

    def message(self, i):
        return lathe_msg(self.first + i, self.cnc_id)

    def publish(self, i):
        info = self.client.publish(f"cnc/{self.cnc_id}/data", self.message(i), qos=1)
        with self.lock:
            # mids are unique per client below 65535 messages; queued while disconnected, too.
            assert info.mid not in self.index_of_mid
            self.index_of_mid[info.mid] = i
            self.sent += 1

    def run_paced(self, rate):
        """Publishes at rate msg/s on a thread until stop_publishing()."""
        def run():
            t0 = time.monotonic()
            while not self.stop_flag.is_set():
                self.publish(self.sent)
                ahead = self.sent / rate - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)
        self.thread = threading.Thread(target=run)
        self.thread.start()

    def stop_publishing(self):
        self.stop_flag.set()
        self.thread.join()

    def acked(self):
        """Messages acknowledged (each once), by index."""
        with self.lock:
            return {self.index_of_mid[m] for m in self.acked_mids if m in self.index_of_mid}

    def all_acked(self):
        with self.lock:
            return len(self.acked_mids) == self.sent

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()
