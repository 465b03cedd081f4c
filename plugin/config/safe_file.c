/*
 * safe_file.c - regular files only, see safe_file.h.
 *
 * Any thread: the broker thread at init, the reload thread, the checker.
 */
#include "safe_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PASSWORD_MAX 1024

static const char *kind_of(mode_t m)
{
    if (S_ISDIR(m)) {
        return "a directory";
    }
    if (S_ISFIFO(m)) {
        return "a FIFO (named pipe)";
    }
    if (S_ISCHR(m) || S_ISBLK(m)) {
        return "a device";
    }
    if (S_ISSOCK(m)) {
        return "a socket";
    }
    if (S_ISLNK(m)) {
        return "a symbolic link";
    }
    return "not a regular file";
}

/* The checks on a stat of the file itself (not of a link to it). */
static int check_stat(const char *path, const struct stat *st, unsigned flags, uid_t also_owner,
                      char *err, size_t err_len)
{
    if (!S_ISREG(st->st_mode)) {
        snprintf(err, err_len, "%s is %s, not a regular file", path, kind_of(st->st_mode));
        return -1;
    }
    if ((flags & CNC_FILE_CODE) && (st->st_mode & S_IWOTH)) {
        snprintf(err, err_len,
                 "%s is writable by every user (mode %04o): anyone could change what the broker "
                 "runs; chmod o-w it",
                 path, (unsigned)(st->st_mode & 07777));
        return -1;
    }
    if (!(flags & CNC_FILE_SECRET)) {
        return 0;
    }
    if (st->st_mode & (S_IROTH | S_IWOTH)) {
        snprintf(err, err_len,
                 "%s is %s by every user (mode %04o); chmod o-rw it (and keep it owned by the "
                 "broker's user)",
                 path, st->st_mode & S_IROTH ? "readable" : "writable",
                 (unsigned)(st->st_mode & 07777));
        return -1;
    }
    if (st->st_uid != 0 && st->st_uid != geteuid() && st->st_uid != also_owner) {
        snprintf(err, err_len,
                 "%s is owned by uid %u, neither root nor the broker's user (uid %u): another "
                 "user could change it",
                 path, (unsigned)st->st_uid,
                 (unsigned)(also_owner != CNC_FILE_NO_OWNER ? also_owner : geteuid()));
        return -1;
    }
    return 0;
}

int cnc_file_check(const char *path, unsigned flags, uid_t also_owner, char *err, size_t err_len)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (S_ISLNK(st.st_mode)) {
        if (flags & CNC_FILE_NO_SYMLINK) {
            char target[256];
            ssize_t n = readlink(path, target, sizeof target - 1);
            target[n > 0 ? n : 0] = '\0';
            snprintf(err, err_len,
                     "%s is a symbolic link (to %s): name the file itself, which must be a "
                     "regular file",
                     path, n > 0 ? target : "?");
            return -1;
        }
        if (stat(path, &st) != 0) {
            snprintf(err, err_len, "%s: %s", path, strerror(errno));
            return -1;
        }
    }
    return check_stat(path, &st, flags, also_owner, err, err_len);
}

int cnc_file_check_each(const char *const *paths, const char *const *keys, size_t n, char *err,
                        size_t err_len)
{
    char why[600];
    for (size_t i = 0; i < n; i++) {
        if (paths[i] != NULL && paths[i][0] != '\0' &&
            cnc_file_check(paths[i], 0, CNC_FILE_NO_OWNER, why, sizeof why) != 0) {
            snprintf(err, err_len, "%s: %s", keys[i], why);
            return -1;
        }
    }
    return 0;
}

char *cnc_file_read(const char *path, unsigned flags, uid_t also_owner, size_t max, size_t *len,
                    char *err, size_t err_len)
{
    struct stat before, st;
    err[0] = '\0';
    if (cnc_file_check(path, flags, also_owner, err, err_len) != 0 || stat(path, &before) != 0) {
        if (err[0] == '\0') {
            snprintf(err, err_len, "%s: %s", path, strerror(errno));
        }
        return NULL;
    }
    int oflags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
    if (flags & CNC_FILE_NO_SYMLINK) {
        oflags |= O_NOFOLLOW;
    }
    int fd = open(path, oflags);
    if (fd < 0) {
        int e = errno;
        snprintf(err, err_len, "%s: %s", path,
                 e == ELOOP ? "is a symbolic link: name the file itself" : strerror(e));
        errno = e;
        return NULL;
    }
    /* The file opened is the one checked: a swap in between is refused. */
    if (fstat(fd, &st) != 0 || st.st_dev != before.st_dev || st.st_ino != before.st_ino ||
        check_stat(path, &st, flags, also_owner, err, err_len) != 0) {
        if (err[0] == '\0') {
            snprintf(err, err_len, "%s changed while it was being opened", path);
        }
        close(fd);
        errno = EINVAL;
        return NULL;
    }
    if ((uint64_t)st.st_size > max) {
        snprintf(err, err_len, "%s holds %lld bytes, more than the %zu allowed", path,
                 (long long)st.st_size, max);
        close(fd);
        errno = EFBIG;
        return NULL;
    }
    /* One byte more than allowed is read, so that a file still growing is caught. */
    char *buf = malloc(max + 2);
    size_t n = 0;
    while (buf != NULL && n <= max) {
        ssize_t got = read(fd, buf + n, max + 1 - n);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            snprintf(err, err_len, "%s: read error: %s", path, strerror(errno));
            free(buf);
            buf = NULL;
            break;
        }
        if (got == 0) {
            break;
        }
        n += (size_t)got;
    }
    close(fd);
    if (buf == NULL) {
        if (err[0] == '\0') {
            snprintf(err, err_len, "%s: out of memory", path);
        }
        return NULL;
    }
    if (n > max) {
        snprintf(err, err_len, "%s holds more than the %zu bytes allowed", path, max);
        free(buf);
        errno = EFBIG;
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

int cnc_password_read(const char *path, uid_t also_owner, char **password, char *err,
                      size_t err_len)
{
    char why[600] = "";
    size_t n = 0;
    *password = NULL;
    if (path == NULL || path[0] == '\0') {
        return 0;
    }
    unsigned flags = CNC_FILE_NO_SYMLINK | CNC_FILE_SECRET;
    char *buf = cnc_file_read(path, flags, also_owner, PASSWORD_MAX + 2, &n, why, sizeof why);
    if (buf == NULL) {
        int e = errno;
        snprintf(err, err_len, "mysql.password_file: %s", why);
        errno = e;
        return -1;
    }
    /* One line: the line ending, if any, is not part of the password. */
    size_t line = n;
    if (line > 0 && buf[line - 1] == '\n') {
        line--;
    }
    if (line > 0 && buf[line - 1] == '\r') {
        line--;
    }
    const char *bad = NULL;
    if (memchr(buf, '\0', line) != NULL) {
        bad = "holds a NUL byte";
    } else if (memchr(buf, '\n', line) != NULL) {
        bad = "holds more than one line (a password file holds the password alone)";
    } else if (line > PASSWORD_MAX) {
        bad = "holds a line longer than 1024 bytes";
    }
    if (bad != NULL) {
        snprintf(err, err_len, "mysql.password_file: %s %s: is it the right file?", path, bad);
        memset(buf, 0, n);
        free(buf);
        return -1;
    }
    buf[line] = '\0';
    *password = buf;
    return 0;
}
