/*
 * safe_file.h - opening the files a config names (the config itself, handler
 * modules, the database password, TLS files) only when they are what they
 * should be.
 *
 * Any thread; no mosquitto calls. A FIFO or a device named by mistake (or on
 * purpose) would block open() or read() forever and stall the broker, and
 * opening some devices has effects of its own: the path is stat()ed first and
 * refused unless it is a regular file, then opened O_NONBLOCK and checked
 * again on the open descriptor (the same inode, still regular), so a swap
 * between the two is refused too.
 *
 * Every refusal says what the path is instead: "is a directory", "is a FIFO
 * (named pipe)", "is a device", "is a symbolic link", "is readable by every
 * user". Errors are "PATH ..." without a key: callers prefix the config key.
 */
#ifndef CNC_SAFE_FILE_H
#define CNC_SAFE_FILE_H

#include <stddef.h>
#include <sys/types.h>

enum {
    /* The path itself must not be a symbolic link (it is opened O_NOFOLLOW). */
    CNC_FILE_NO_SYMLINK = 1u << 0,
    /*
     * A secret: not readable or writable by other users, and owned by root or
     * by this process's user (or by also_owner, see cnc_file_check).
     */
    CNC_FILE_SECRET = 1u << 1,
    /* Code the broker runs (a handler script): not writable by every user. */
    CNC_FILE_CODE = 1u << 2,
};

/* No extra owner allowed for a secret. */
#define CNC_FILE_NO_OWNER ((uid_t)-1)

/*
 * 0 when path names a file allowed by flags; -1 with the reason in err. Only
 * stat()s: usable by the checker on a file it may not be able to read.
 * also_owner (or CNC_FILE_NO_OWNER) is one more uid a secret may belong to:
 * the checker, run as another user, passes the broker's.
 */
int cnc_file_check(const char *path, unsigned flags, uid_t also_owner, char *err, size_t err_len);

/*
 * cnc_file_check (following symbolic links) on each non-empty paths[i], naming keys[i] in
 * the error: "mysql.tls_ca: PATH is a FIFO ...". 0 when all pass.
 */
int cnc_file_check_each(const char *const *paths, const char *const *keys, size_t n, char *err,
                        size_t err_len);

/*
 * Reads the whole file (after cnc_file_check; the checks are made again on
 * the open descriptor, so the file read is the file checked) into a new NUL-terminated
 * buffer, *len bytes without the NUL; free() it. A file over max bytes is
 * refused ("holds more than MAX bytes"). NULL with the reason in err; errno
 * is EACCES when the file exists and is sound but this user may not read it.
 */
char *cnc_file_read(const char *path, unsigned flags, uid_t also_owner, size_t max, size_t *len,
                    char *err, size_t err_len);

/*
 * The database password from a password file: a secret (as above, and no
 * symbolic link, so it cannot be pointed at another file root may read),
 * one line of at most 1024 bytes without NUL; the line ending is not part of
 * it. An empty path: *password = NULL and 0. -1 with "mysql.password_file:
 * PATH ..." in err. The caller zeroes and frees *password.
 */
int cnc_password_read(const char *path, uid_t also_owner, char **password, char *err,
                      size_t err_len);

#endif
