/*
 * test_safe_file.c - files a config names (plugin/config/safe_file.c): only regular files are
 * opened (a FIFO would hang the broker), and the password file must be a private regular
 * file of one line, never a symbolic link (which could point at any file root can read).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "safe_file.h"

static char dir[] = "/tmp/cnc-safe-XXXXXX";

static const char *at(const char *name)
{
    static char path[4][128];
    static int k;
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s", dir, name);
    return path[k];
}

static void put(const char *name, const char *text, mode_t mode)
{
    FILE *f = fopen(at(name), "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(at(name), mode), 0);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

#define REFUSED(call, expected)                                                                    \
    do {                                                                                           \
        char err_[700] = "";                                                                       \
        char *pw_ = NULL;                                                                          \
        (void)pw_;                                                                                 \
        if ((call) == 0) {                                                                         \
            fail_msg("accepted, expected \"%s\"", (expected));                                     \
        }                                                                                          \
        if (strstr(err_, (expected)) == NULL) {                                                    \
            fail_msg("\"%s\" does not contain \"%s\"", err_, (expected));                          \
        }                                                                                          \
    } while (0)

static void only_regular_files(void **state)
{
    (void)state;
    char err[700];
    size_t len;
    put("plain", "hello\n", 0644);
    assert_int_equal(cnc_file_check(at("plain"), 0, CNC_FILE_NO_OWNER, err, sizeof err), 0);
    char *text = cnc_file_read(at("plain"), 0, CNC_FILE_NO_OWNER, 100, &len, err, sizeof err);
    assert_non_null(text);
    assert_int_equal(len, 6);
    free(text);
    assert_null(cnc_file_read(at("plain"), 0, CNC_FILE_NO_OWNER, 5, &len, err, sizeof err));
    assert_non_null(strstr(err, "holds 6 bytes, more than the 5 allowed"));

    assert_int_equal(mkfifo(at("fifo"), 0600), 0);
    REFUSED(cnc_file_check(at("fifo"), 0, CNC_FILE_NO_OWNER, err_, sizeof err_),
            "fifo is a FIFO (named pipe), not a regular file");
    assert_null(cnc_file_read(at("fifo"), 0, CNC_FILE_NO_OWNER, 100, &len, err,
                              sizeof err)); /* and no hang */
    REFUSED(cnc_file_check("/dev/null", 0, CNC_FILE_NO_OWNER, err_, sizeof err_),
            "/dev/null is a device, not a regular file");
    REFUSED(cnc_file_check(dir, 0, CNC_FILE_NO_OWNER, err_, sizeof err_),
            "is a directory, not a regular file");
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", at("sock"));
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
    REFUSED(cnc_file_check(at("sock"), 0, CNC_FILE_NO_OWNER, err_, sizeof err_),
            "sock is a socket, not a regular file");
    close(s);
    REFUSED(cnc_file_check(at("missing"), 0, CNC_FILE_NO_OWNER, err_, sizeof err_),
            "missing: No such file or directory");
    /* A symbolic link is followed unless the caller forbids it; its target is checked. */
    assert_int_equal(symlink(at("plain"), at("link")), 0);
    assert_int_equal(cnc_file_check(at("link"), 0, CNC_FILE_NO_OWNER, err, sizeof err), 0);
    assert_int_equal(symlink(at("fifo"), at("link-to-fifo")), 0);
    REFUSED(cnc_file_check(at("link-to-fifo"), 0, CNC_FILE_NO_OWNER, err_, sizeof err_),
            "is a FIFO (named pipe)");
    REFUSED(cnc_file_check(at("link"), CNC_FILE_NO_SYMLINK, CNC_FILE_NO_OWNER, err_, sizeof err_),
            "link is a symbolic link (to ");
}

static void password_files(void **state)
{
    (void)state;
    char err[700], *pw = NULL;
    put("good", "s3cret\n", 0600);
    assert_int_equal(cnc_password_read(at("good"), CNC_FILE_NO_OWNER, &pw, err, sizeof err), 0);
    assert_string_equal(pw, "s3cret");
    free(pw);
    put("crlf", "s3cret\r\n", 0640);
    assert_int_equal(cnc_password_read(at("crlf"), CNC_FILE_NO_OWNER, &pw, err, sizeof err), 0);
    assert_string_equal(pw, "s3cret");
    free(pw);
    put("bare", "s3cret", 0400);
    assert_int_equal(cnc_password_read(at("bare"), CNC_FILE_NO_OWNER, &pw, err, sizeof err), 0);
    assert_string_equal(pw, "s3cret");
    free(pw);
    assert_int_equal(cnc_password_read("", CNC_FILE_NO_OWNER, &pw, err, sizeof err), 0);
    assert_null(pw);

    /* A symbolic link to a private file root can read (as /etc/shadow was accepted). */
    put("shadow", "root:$y$j9T$abc:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n", 0640);
    assert_int_equal(symlink(at("shadow"), at("pw-link")), 0);
    REFUSED(cnc_password_read(at("pw-link"), CNC_FILE_NO_OWNER, &pw_, err_, sizeof err_),
            "mysql.password_file: ");
    REFUSED(cnc_password_read(at("pw-link"), CNC_FILE_NO_OWNER, &pw_, err_, sizeof err_),
            "pw-link is a symbolic link (to ");
    /* The same file named directly: not one line, so not a password file. */
    REFUSED(cnc_password_read(at("shadow"), CNC_FILE_NO_OWNER, &pw_, err_, sizeof err_),
            "holds more than one line");
    put("world", "s3cret\n", 0644);
    REFUSED(cnc_password_read(at("world"), CNC_FILE_NO_OWNER, &pw_, err_, sizeof err_),
            "world is readable by every user (mode 0644); chmod o-rw it");
    put("worldw", "s3cret\n", 0602);
    REFUSED(cnc_password_read(at("worldw"), CNC_FILE_NO_OWNER, &pw_, err_, sizeof err_),
            "is writable by every user");
    REFUSED(cnc_password_read(dir, CNC_FILE_NO_OWNER, &pw_, err_, sizeof err_),
            "is a directory, not a regular file");
    REFUSED(cnc_password_read(at("fifo"), CNC_FILE_NO_OWNER, &pw_, err_, sizeof err_),
            "is a FIFO (named pipe), not a regular file");
    char big[1100];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    put("big", big, 0600);
    REFUSED(cnc_password_read(at("big"), CNC_FILE_NO_OWNER, &pw_, err_, sizeof err_),
            "holds 1099 bytes, more than the 1026 allowed");
    FILE *f = fopen(at("nul"), "w");
    fwrite("ab\0cd\n", 1, 6, f);
    fclose(f);
    chmod(at("nul"), 0600);
    REFUSED(cnc_password_read(at("nul"), CNC_FILE_NO_OWNER, &pw_, err_, sizeof err_),
            "holds a NUL byte");
    /* Owned by another user: refused unless that is the broker's user. */
    put("other", "s3cret\n", 0600);
    if (geteuid() == 0) {
        assert_int_equal(chown(at("other"), 4242, 4242), 0);
        REFUSED(cnc_password_read(at("other"), CNC_FILE_NO_OWNER, &pw_, err_, sizeof err_),
                "is owned by uid 4242, neither root nor the broker's user");
        assert_int_equal(cnc_password_read(at("other"), 4242, &pw, err, sizeof err), 0);
        free(pw);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(only_regular_files),
        cmocka_unit_test(password_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
