/* test_utf8.c - strict UTF-8 validation and the printable check (plugin/utf8.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "utf8.h"

#define INVALID_AT(s) utf8_invalid_at((s), sizeof(s) - 1)

static void valid_text(void **state)
{
    (void)state;
    assert_int_equal(INVALID_AT("plain ascii, long enough for the word loop"), 42);
    assert_int_equal(INVALID_AT("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x94\xA7"), 14);
    assert_int_equal(INVALID_AT("\xEF\xBF\xBF"), 3);     /* U+FFFF is a valid code point in JSON */
    assert_int_equal(INVALID_AT("\xF4\x8F\xBF\xBF"), 4); /* U+10FFFF */
    assert_int_equal(INVALID_AT("line\nbreak\ttab"), 14);
    assert_int_equal(utf8_invalid_at("", 0), 0);
}

static void invalid_text(void **state)
{
    (void)state;
    assert_int_equal(INVALID_AT("ab\xC0\xAF"), 2);        /* overlong '/' */
    assert_int_equal(INVALID_AT("abc\xE0\x80\xAF"), 3);   /* overlong 3-byte */
    assert_int_equal(INVALID_AT("\xED\xA0\x80"), 0);      /* surrogate U+D800 */
    assert_int_equal(INVALID_AT("x\xF4\x90\x80\x80"), 1); /* above U+10FFFF */
    assert_int_equal(INVALID_AT("xy\xC3"), 2);            /* truncated */
    assert_int_equal(INVALID_AT("xy\xC3("), 2);           /* bad continuation */
    assert_int_equal(INVALID_AT("12345678\x80"), 8);      /* lone continuation after a word */
    assert_int_equal(INVALID_AT("abcdefghijk\xFF"), 11);
    assert_int_equal(utf8_invalid_at("abcdefgh\0ij", 11), 8); /* NUL byte */
    assert_int_equal(utf8_invalid_at("a\0", 2), 1);
}

static void printable(void **state)
{
    (void)state;
    size_t n = 0;
    assert_true(utf8_printable("program_01", 10, &n));
    assert_int_equal(n, 10);
    assert_true(utf8_printable("Fr\xC3\xA4sen", 7, &n));
    assert_int_equal(n, 6);
    assert_false(utf8_printable("a\tb", 3, &n));
    assert_false(utf8_printable("a\x7F", 2, &n));
    assert_false(utf8_printable("a\xC2\x85", 3, &n)); /* NEL, a C1 control */
    assert_true(utf8_printable("a\xC2\xA0", 3, &n));  /* NBSP is printable */
}

/* A client's text made one log line: controls '?', invalid bytes replaced, a cut character
   dropped. */
static void loggable(void **state)
{
    (void)state;
    char a[64] = "id\nforged: line\r\x7f\x1b[31m";
    utf8_make_loggable(a, sizeof a);
    assert_string_equal(a, "id?forged: line???[31m");
    char b[64] = "caf\xc3\xa9 \xff end";
    utf8_make_loggable(b, sizeof b);
    assert_string_equal(b, "caf\xc3\xa9 \xef\xbf\xbd end");
    char c[8] = "abcde\xc3"; /* an e-acute cut in two by a bound, as snprintf leaves it */
    utf8_make_loggable(c, sizeof c);
    assert_string_equal(c, "abcde");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_text),
        cmocka_unit_test(invalid_text),
        cmocka_unit_test(printable),
        cmocka_unit_test(loggable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
