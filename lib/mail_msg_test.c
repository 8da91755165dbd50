/* mail_msg_test.c - addresses, header injection, encoded headers, MIME structure, QP. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/err.h"
#include "lib/mail_msg.h"

/* --- addresses ------------------------------------------------------------------------ */

static void test_addr_parse_accepts_plain_named_and_quoted(void **state)
{
    struct mail_addr a;
    struct err err = {0};

    assert_int_equal(mail_addr_parse("ada@example.com", &a, &err), 0);
    assert_string_equal(a.addr, "ada@example.com");
    assert_string_equal(a.name, "");
    assert_int_equal(mail_addr_parse("Ada Lovelace <ada@example.com>", &a, &err), 0);
    assert_string_equal(a.name, "Ada Lovelace");
    assert_string_equal(a.addr, "ada@example.com");
    assert_int_equal(
        mail_addr_parse("\"Lovelace, Ada \\\"A\\\"\" <a.b+c@mail.example.org> ", &a, &err), 0);
    assert_string_equal(a.name, "Lovelace, Ada \"A\"");
    assert_string_equal(a.addr, "a.b+c@mail.example.org");
    assert_int_equal(mail_addr_parse("Zoë <zoe@localhost>", &a, &err), 0);
    assert_string_equal(a.name, "Zoë");
    assert_string_equal(mail_addr_domain(&a), "localhost");
}

static void test_addr_parse_rejects_bad_addresses_with_a_reason(void **state)
{
    static const struct {
        const char *in, *msg;
    } bad[] = {
        {"ada@example.com\r\nBcc: eve@example.com",
         "an email address must not contain control characters such as CR or LF (got 0x0d at "
         "byte 15)"},
        {"Ada <ada@example.com>\nX: y",
         "an email address must not contain control characters such as CR or LF (got 0x0a at "
         "byte 21)"},
        {"ada.example.com", "\"ada.example.com\" is not an email address: it has no @"},
        {"ada@", "\"ada@\" is not an email address: the domain is empty"},
        {"@example.com", "\"@example.com\" is not an email address: the part before @ is empty"},
        {"a..b@example.com",
         "\"a..b@example.com\" is not an email address: the part before @ has a misplaced dot"},
        {"ada@exa mple.com",
         "\"ada@exa mple.com\" is not an email address: it has a space (write \"Name "
         "<local@domain>\")"},
        {"adä@example.com", "\"adä@example.com\" is not an email address: it is not ASCII "
                            "(internationalized addresses are not supported)"},
        {"ada@-x.com",
         "\"ada@-x.com\" is not an email address: the domain has a label starting with '-'"},
        {"ada@x..com", "\"ada@x..com\" is not an email address: the domain has an empty label or "
                       "one ending in '-'"},
        {"Ada <ada@example.com> eve@example.com",
         "\"Ada <ada@example.com> eve@example.com\" is not an email address: the address must "
         "end with '>'"},
        {"a@b.com, c@d.com", "\"a@b.com, c@d.com\" is not an email address: it has a space "
                             "(write \"Name <local@domain>\")"},
        {"", "\"\" is not an email address: it is empty"},
    };
    struct mail_addr a;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct err err = {0};

        assert_int_equal(mail_addr_parse(bad[i].in, &a, &err), -EINVAL);
        assert_string_equal(err.msg, bad[i].msg);
    }
}

/* --- messages ------------------------------------------------------------------------- */

static struct mail_addr from = {"Nexus Sales", "no-reply@example.com"};
static struct mail_addr to[2] = {{"", "ada@example.com"}, {"Grace \"G\" Hopper", "g@example.com"}};

static struct mail_msg msg(const char *subject, const char *text, const char *html)
{
    return (struct mail_msg){.from = &from,
                             .to = to,
                             .nto = 2,
                             .subject = subject,
                             .text = text,
                             .html = html,
                             .message_id = "abc123.nexus@example.com",
                             .date = 1700000000};
}

static char *build(struct mail_msg m)
{
    struct err err = {0};
    char *out = NULL;
    size_t len = 0;

    if (mail_msg_build(&m, &out, &len, &err) != 0)
        fail_msg("build failed: %s", err.msg);
    assert_int_equal(strlen(out), len);
    return out;
}

/* Every line ends in CRLF, none longer than 78 bytes before it. */
static void assert_lines_ok(const char *s)
{
    size_t col = 0;

    for (; *s; s++) {
        if (*s == '\n')
            fail_msg("bare LF");
        if (*s == '\r') {
            assert_int_equal(s[1], '\n');
            s++;
            col = 0;
            continue;
        }
        assert_true(++col <= 78);
    }
}

static void test_build_multipart_alternative_with_both_parts(void **state)
{
    char *s = build(msg("Your receipt", "Hello Ada,\nthanks.", "<p>Hello Ada</p>"));

    assert_non_null(strstr(s, "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"));
    assert_non_null(strstr(s, "From: Nexus Sales <no-reply@example.com>\r\n"));
    assert_non_null(strstr(s, "To: ada@example.com,\r\n \"Grace \\\"G\\\" Hopper\" "
                              "<g@example.com>\r\n"));
    assert_non_null(strstr(s, "Subject: Your receipt\r\n"));
    assert_non_null(strstr(s, "Message-ID: <abc123.nexus@example.com>\r\n"));
    assert_non_null(strstr(s, "MIME-Version: 1.0\r\n"));
    assert_non_null(strstr(s, "Content-Type: multipart/alternative; boundary=\"=_nexus_"));
    char *plain = strstr(s, "Content-Type: text/plain; charset=UTF-8\r\n"
                            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
                            "Hello Ada,\r\nthanks.\r\n");
    char *html = strstr(s, "Content-Type: text/html; charset=UTF-8\r\n"
                           "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
                           "<p>Hello Ada</p>\r\n");
    assert_non_null(plain);
    assert_non_null(html);
    assert_true(plain < html); /* text first: the last part is the preferred one */
    assert_non_null(strstr(s, "--\r\n"));
    assert_null(strstr(s, "Cc:"));
    assert_lines_ok(s);
    free(s);
}

static void test_build_single_part_when_only_html(void **state)
{
    char *s = build(msg("x", NULL, "<b>hi</b>"));

    assert_null(strstr(s, "multipart"));
    assert_non_null(strstr(s, "MIME-Version: 1.0\r\nContent-Type: text/html; charset=UTF-8\r\n"));
    free(s);
}

static void test_build_encodes_non_ascii_subject_and_names(void **state)
{
    struct mail_addr zoe = {"Zoë Ünal", "zoe@example.com"};
    struct mail_msg m =
        msg("Reçu de commande n° 42 — merci beaucoup pour votre achat chez nous", "x", NULL);
    char *s;

    m.to = &zoe;
    m.nto = 1;
    s = build(m);
    assert_non_null(strstr(s, "To: =?UTF-8?B?Wm/DqyDDnG5hbA==?= <zoe@example.com>\r\n"));
    assert_non_null(strstr(s, "Subject: =?UTF-8?B?"));
    assert_non_null(strstr(s, "?=\r\n =?UTF-8?B?")); /* folded into several words */
    assert_lines_ok(s);
    free(s);
}

static void test_build_rejects_header_injection_in_the_subject(void **state)
{
    static const char *const subjects[] = {"Hi\r\nBcc: eve@example.com", "Hi\nX: 1", "a\rb",
                                           "tab\there"};
    struct err err = {0};
    char *out = NULL;
    size_t len;

    for (size_t i = 0; i < 4; i++) {
        struct mail_msg m = msg(subjects[i], "x", NULL);

        assert_int_equal(mail_msg_build(&m, &out, &len, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "the subject must not contain control characters"));
        assert_null(out);
    }
}

static void test_build_quoted_printable_bodies(void **state)
{
    char line[200];
    char *s;

    memset(line, 'a', 150);
    line[150] = '\0';
    s = build(msg("qp", "1+1=2 \nend  ", NULL));
    assert_non_null(strstr(s, "\r\n\r\n1+1=3D2=20\r\nend =20\r\n"));
    free(s);
    s = build(msg("qp", line, NULL));
    assert_non_null(strstr(s, "=\r\n")); /* soft line break */
    assert_lines_ok(s);
    free(s);
    s = build(msg("qp", "caf\xc3\xa9 \xe2\x82\xac", NULL));
    assert_non_null(strstr(s, "caf=C3=A9 =E2=82=AC\r\n"));
    free(s);
}

static void test_build_rejects_bad_input(void **state)
{
    struct err err = {0};
    char *out = NULL;
    size_t len;
    struct mail_msg m = msg("s", "bad \xc3\x28 utf8", NULL);

    assert_int_equal(mail_msg_build(&m, &out, &len, &err), -EINVAL);
    assert_string_equal(err.msg, "the text body is not valid UTF-8");
    m = msg("s", NULL, NULL);
    assert_int_equal(mail_msg_build(&m, &out, &len, &err), -EINVAL);
    assert_string_equal(err.msg, "a message needs a text or an HTML body");
    m = msg("s", "x", NULL);
    m.message_id = "a>b@x\r\nX: y";
    assert_int_equal(mail_msg_build(&m, &out, &len, &err), -EINVAL);
    assert_string_equal(err.msg, "the Message-ID must be local@domain in printable ASCII");
    m = msg("s", "x", NULL);
    m.nto = 0;
    assert_int_equal(mail_msg_build(&m, &out, &len, &err), -EINVAL);
}

static void test_msg_id_is_stable_and_safe(void **state)
{
    char a[MAIL_MAX_ID + 1], b[MAIL_MAX_ID + 1];

    assert_string_equal(mail_msg_id("b4a577edbccf1d805744efa9", "example.com", a),
                        "b4a577edbccf1d805744efa9.nexus@example.com");
    mail_msg_id("x>y\r\n", "example.com", a);
    mail_msg_id("x>y\r\n", "example.com", b);
    assert_string_equal(a, b);
    assert_null(strpbrk(a, "<>\r\n "));
    assert_non_null(strstr(a, ".nexus@example.com"));
}

static void test_utf8_validation(void **state)
{
    assert_true(mail_utf8_valid("h\xc3\xa9 \xf0\x9f\x98\x80", 9));
    assert_false(mail_utf8_valid("\xc0\xaf", 2));         /* overlong */
    assert_false(mail_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(mail_utf8_valid("\xe2\x82", 2));         /* cut */
    assert_false(mail_utf8_valid("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_parse_accepts_plain_named_and_quoted),
        cmocka_unit_test(test_addr_parse_rejects_bad_addresses_with_a_reason),
        cmocka_unit_test(test_build_multipart_alternative_with_both_parts),
        cmocka_unit_test(test_build_single_part_when_only_html),
        cmocka_unit_test(test_build_encodes_non_ascii_subject_and_names),
        cmocka_unit_test(test_build_rejects_header_injection_in_the_subject),
        cmocka_unit_test(test_build_quoted_printable_bodies),
        cmocka_unit_test(test_build_rejects_bad_input),
        cmocka_unit_test(test_msg_id_is_stable_and_safe),
        cmocka_unit_test(test_utf8_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
