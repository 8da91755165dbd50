/* mail_msg.c - MIME text from checked parts: nothing the caller gives reaches a header
 * unencoded unless it is plain printable ASCII, and no value can add a header line. */
#include "lib/mail_msg.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/strbuf.h"

#define QP_LINE 76    /* bytes of a quoted-printable line, soft break "=" included */
#define WORD_CHARS 42 /* bytes of text per encoded word: base64 56 + 12, fits after "Subject: " */
#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

static void sb_str(struct strbuf *sb, const char *s)
{
    strbuf_add(sb, s, strlen(s));
}

static void sb_fmt(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_fmt(struct strbuf *sb, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > 0)
        strbuf_add(sb, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

bool mail_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;

    while (p < end) {
        unsigned c = *p, n, cp, min;

        if (c < 0x80) {
            p++;
            continue;
        }
        if ((c & 0xe0) == 0xc0)
            n = 1, cp = c & 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0)
            n = 2, cp = c & 0x0f, min = 0x800;
        else if ((c & 0xf8) == 0xf0)
            n = 3, cp = c & 0x07, min = 0x10000;
        else
            return false;
        if ((size_t)(end - p) <= n)
            return false;
        for (unsigned i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        p += n + 1;
    }
    return true;
}

/* ---- addresses ---------------------------------------------------------------------- */

static bool is_atext(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+/=?^_`{|}~-", c));
}

/* "local@domain": a dot-atom local part and a domain of LDH labels. NULL when valid, else
 * what is wrong. */
static const char *addr_spec_problem(const char *a, size_t n)
{
    const char *at = memchr(a, '@', n), *d;
    size_t local, label = 0;

    if (!at)
        return "it has no @";
    local = (size_t)(at - a);
    if (local == 0)
        return "the part before @ is empty";
    if (local > MAIL_MAX_LOCAL)
        return "the part before @ is longer than 64 bytes";
    for (size_t i = 0; i < local; i++) {
        unsigned char c = (unsigned char)a[i];

        if (c >= 0x80)
            return "it is not ASCII (internationalized addresses are not supported)";
        if (c == '.' && (i == 0 || i + 1 == local || a[i + 1] == '.'))
            return "the part before @ has a misplaced dot";
        if (c != '.' && !is_atext(c))
            return "the part before @ has a character outside letters, digits and "
                   "!#$%&'*+/=?^_`{|}~.-";
    }
    d = at + 1;
    if (d == a + n)
        return "the domain is empty";
    for (const char *p = d; p <= a + n; p++) {
        unsigned char c = p < a + n ? (unsigned char)*p : '.';

        if (c == '.') {
            if (label == 0 || p[-1] == '-')
                return "the domain has an empty label or one ending in '-'";
            label = 0;
            continue;
        }
        if (c >= 0x80)
            return "it is not ASCII (internationalized addresses are not supported)";
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-'))
            return "the domain has a character outside letters, digits, '-' and '.'";
        if (label == 0 && c == '-')
            return "the domain has a label starting with '-'";
        if (++label > 63)
            return "the domain has a label longer than 63 bytes";
    }
    return NULL;
}

static int addr_fail(struct err *err, const char *text, const char *why)
{
    return err_set(err, -EINVAL, "\"%.80s%s\" is not an email address: %s", text,
                   strlen(text) > 80 ? "..." : "", why);
}

/* Trims spaces and tabs from both ends of s[0..*n). */
static const char *trim(const char *s, size_t *n)
{
    while (*n && (*s == ' ' || *s == '\t'))
        s++, (*n)--;
    while (*n && (s[*n - 1] == ' ' || s[*n - 1] == '\t'))
        (*n)--;
    return s;
}

/* The display name before "<": as written, or a quoted string with \" and \\ unescaped. */
static int name_parse(const char *text, const char *s, size_t n, struct mail_addr *ret,
                      struct err *err)
{
    size_t out = 0;

    s = trim(s, &n);
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        for (size_t i = 1; i + 1 < n; i++) {
            if (s[i] == '\\' && i + 2 < n)
                i++;
            else if (s[i] == '"')
                return addr_fail(err, text, "the display name has an unescaped '\"'");
            if (out == MAIL_MAX_NAME)
                return addr_fail(err, text, "the display name is longer than 256 bytes");
            ret->name[out++] = s[i];
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            if (s[i] == '"' || s[i] == '<' || s[i] == '>')
                return addr_fail(err, text,
                                 "the display name has a stray quote or angle "
                                 "bracket (put the name in double quotes)");
            if (out == MAIL_MAX_NAME)
                return addr_fail(err, text, "the display name is longer than 256 bytes");
            ret->name[out++] = s[i];
        }
    }
    ret->name[out] = '\0';
    if (!mail_utf8_valid(ret->name, out))
        return addr_fail(err, text, "the display name is not valid UTF-8");
    return 0;
}

int mail_addr_parse(const char *text, struct mail_addr *ret, struct err *err)
{
    struct mail_addr a;
    const char *lt, *gt, *spec = text, *why;
    size_t n = strlen(text), spec_n;
    int r;

    memset(&a, 0, sizeof(a));
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
            return err_set(err, -EINVAL,
                           "an email address must not contain control characters such as "
                           "CR or LF (got 0x%02x at byte %zu)",
                           (unsigned char)text[i], i);
    lt = strrchr(text, '<');
    spec_n = n;
    if (lt) {
        gt = strchr(lt, '>');
        if (!gt || strspn(gt + 1, " \t") != strlen(gt + 1))
            return addr_fail(err, text, "the address must end with '>'");
        r = name_parse(text, text, (size_t)(lt - text), &a, err);
        if (r < 0)
            return r;
        spec = lt + 1;
        spec_n = (size_t)(gt - spec);
    }
    spec = trim(spec, &spec_n);
    if (spec_n == 0)
        return addr_fail(err, text, "it is empty");
    if (spec_n > MAIL_MAX_ADDR)
        return addr_fail(err, text, "it is longer than 254 bytes");
    if (!lt && memchr(spec, ' ', spec_n))
        return addr_fail(err, text, "it has a space (write \"Name <local@domain>\")");
    why = addr_spec_problem(spec, spec_n);
    if (why)
        return addr_fail(err, text, why);
    memcpy(a.addr, spec, spec_n);
    a.addr[spec_n] = '\0';
    *ret = a;
    return 0;
}

const char *mail_addr_domain(const struct mail_addr *a)
{
    const char *at = strchr(a->addr, '@');

    return at ? at + 1 : "";
}

/* ---- headers ------------------------------------------------------------------------ */

static bool printable_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

static void base64_add(struct strbuf *sb, const unsigned char *in, size_t n)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char out[4];

    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;

        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[0] = abc[(v >> 18) & 63];
        out[1] = abc[(v >> 12) & 63];
        out[2] = i + 1 < n ? abc[(v >> 6) & 63] : '=';
        out[3] = i + 2 < n ? abc[v & 63] : '=';
        strbuf_add(sb, out, 4);
    }
}

/* `s` as RFC 2047 encoded words (=?UTF-8?B?...?=), folded between words; each word holds
 * whole UTF-8 characters. */
static void words_add(struct strbuf *sb, const char *s)
{
    size_t n = strlen(s), i = 0;

    while (i < n) {
        size_t take = n - i < WORD_CHARS ? n - i : WORD_CHARS;

        while (i + take < n && ((unsigned char)s[i + take] & 0xc0) == 0x80)
            take--; /* do not split a character */
        if (i > 0)
            sb_str(sb, "\r\n ");
        sb_str(sb, "=?UTF-8?B?");
        base64_add(sb, (const unsigned char *)s + i, take);
        sb_str(sb, "?=");
        i += take;
    }
}

/* Text that may stand in a header as it is: printable ASCII, short enough, and nothing a
 * reader would take for an encoded word. */
static bool header_plain(const char *s)
{
    return printable_ascii(s) && strlen(s) <= 200 && !strstr(s, "=?");
}

static void name_add(struct strbuf *sb, const char *name)
{
    bool atoms = true;

    for (const char *p = name; *p; p++)
        if (!is_atext((unsigned char)*p) && *p != ' ')
            atoms = false;
    if (!header_plain(name)) {
        words_add(sb, name);
        return;
    }
    if (atoms) {
        sb_str(sb, name);
        return;
    }
    sb_str(sb, "\"");
    for (const char *p = name; *p; p++) {
        if (*p == '"' || *p == '\\')
            sb_str(sb, "\\");
        strbuf_add(sb, p, 1);
    }
    sb_str(sb, "\"");
}

static void addr_add(struct strbuf *sb, const struct mail_addr *a)
{
    if (a->name[0]) {
        name_add(sb, a->name);
        sb_fmt(sb, " <%s>", a->addr);
    } else {
        sb_str(sb, a->addr);
    }
}

static void addrs_header(struct strbuf *sb, const char *field, const struct mail_addr *a, size_t n)
{
    if (n == 0)
        return;
    sb_fmt(sb, "%s: ", field);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            sb_str(sb, ",\r\n ");
        addr_add(sb, &a[i]);
    }
    sb_str(sb, "\r\n");
}

static void date_header(struct strbuf *sb, time_t t)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;

    if (!gmtime_r(&t, &tm))
        t = 0, (void)gmtime_r(&t, &tm);
    sb_fmt(sb, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday % 7], tm.tm_mday,
           months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* ---- bodies ------------------------------------------------------------------------- */

/* `s` in quoted-printable with CRLF line ends (LF, CR and CRLF in `s` all end a line); a
 * line end is added only where `s` has one, so the text comes back as it was. */
static void qp_add(struct strbuf *sb, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t col = 0;

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char enc[3];
        size_t n = 1;
        bool line_end = p[1] == '\0' || p[1] == '\n' || p[1] == '\r';

        if (*p == '\r' || *p == '\n') {
            if (*p == '\r' && p[1] == '\n')
                p++;
            sb_str(sb, "\r\n");
            col = 0;
            continue;
        }
        if ((*p >= 33 && *p <= 126 && *p != '=') || ((*p == ' ' || *p == '\t') && !line_end)) {
            enc[0] = (char)*p;
        } else {
            enc[0] = '=', enc[1] = hex[*p >> 4], enc[2] = hex[*p & 15];
            n = 3;
        }
        /* room for this and a soft break; the last piece of a line may use the 76th byte */
        if (col + n > QP_LINE - 1 && !(line_end && col + n <= QP_LINE)) {
            sb_str(sb, "=\r\n");
            col = 0;
        }
        strbuf_add(sb, enc, n);
        col += n;
    }
}

static void part_add(struct strbuf *sb, const char *type, const char *body)
{
    sb_fmt(sb,
           "Content-Type: %s; charset=UTF-8\r\n"
           "Content-Transfer-Encoding: quoted-printable\r\n\r\n",
           type);
    qp_add(sb, body);
}

/* ---- the message -------------------------------------------------------------------- */

static int body_check(const char *what, const char *s, struct err *err)
{
    size_t n;

    if (!s)
        return 0;
    n = strlen(s);
    if (n > MAIL_MAX_BODY)
        return err_set(err, -EINVAL, "the %s body must be at most %d bytes (got %zu)", what,
                       MAIL_MAX_BODY, n);
    if (!mail_utf8_valid(s, n))
        return err_set(err, -EINVAL, "the %s body is not valid UTF-8", what);
    return 0;
}

static int msg_check(const struct mail_msg *m, struct err *err)
{
    size_t n = strlen(m->subject);
    int r;

    if (m->nto == 0)
        return err_set(err, -EINVAL, "a message needs at least one To recipient");
    if (m->nto + m->ncc > MAIL_MAX_RCPTS)
        return err_set(err, -EINVAL, "a message may have at most %d recipients (got %zu)",
                       MAIL_MAX_RCPTS, m->nto + m->ncc);
    if (n > MAIL_MAX_SUBJECT)
        return err_set(err, -EINVAL, "the subject must be at most %d bytes (got %zu)",
                       MAIL_MAX_SUBJECT, n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)m->subject[i] < 0x20 || m->subject[i] == 0x7f)
            return err_set(err, -EINVAL,
                           "the subject must not contain control characters such as CR or LF "
                           "(got 0x%02x at byte %zu)",
                           (unsigned char)m->subject[i], i);
    if (!mail_utf8_valid(m->subject, n))
        return err_set(err, -EINVAL, "the subject is not valid UTF-8");
    if (!m->text && !m->html)
        return err_set(err, -EINVAL, "a message needs a text or an HTML body");
    r = body_check("text", m->text, err);
    if (r == 0)
        r = body_check("HTML", m->html, err);
    if (r < 0)
        return r;
    n = strlen(m->message_id);
    if (n == 0 || n > MAIL_MAX_ID || !printable_ascii(m->message_id) ||
        strpbrk(m->message_id, " <>\"\\") || !strchr(m->message_id, '@'))
        return err_set(err, -EINVAL, "the Message-ID must be local@domain in printable ASCII");
    return 0;
}

/* FNV-1a, 64 bits: boundaries and hashed ids need to be stable, not secret. */
static uint64_t fnv64(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

int mail_msg_build(const struct mail_msg *m, char **ret_text, size_t *ret_len, struct err *err)
{
    struct strbuf sb = {0};
    char boundary[40];
    int r;

    r = msg_check(m, err);
    if (r < 0)
        return r;
    (void)snprintf(boundary, sizeof(boundary), "=_nexus_%016llx",
                   (unsigned long long)fnv64(m->message_id));
    date_header(&sb, m->date);
    addrs_header(&sb, "From", m->from, 1);
    if (m->reply_to)
        addrs_header(&sb, "Reply-To", m->reply_to, 1);
    addrs_header(&sb, "To", m->to, m->nto);
    addrs_header(&sb, "Cc", m->cc, m->ncc);
    sb_str(&sb, "Subject: ");
    if (header_plain(m->subject))
        sb_str(&sb, m->subject);
    else
        words_add(&sb, m->subject);
    sb_fmt(&sb, "\r\nMessage-ID: <%s>\r\nMIME-Version: 1.0\r\n", m->message_id);
    if (m->text && m->html) {
        sb_fmt(&sb, "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n", boundary);
        sb_str(&sb, "This is a multi-part message in MIME format.\r\n");
        sb_fmt(&sb, "\r\n--%s\r\n", boundary);
        part_add(&sb, "text/plain", m->text);
        sb_fmt(&sb, "\r\n--%s\r\n", boundary);
        part_add(&sb, "text/html", m->html);
        sb_fmt(&sb, "\r\n--%s--\r\n", boundary);
    } else {
        part_add(&sb, m->text ? "text/plain" : "text/html", m->text ? m->text : m->html);
        if (sb.len < 2 || memcmp(sb.p + sb.len - 2, "\r\n", 2) != 0)
            sb_str(&sb, "\r\n"); /* the message ends with a line end */
    }
    *ret_text = sb.p;
    *ret_len = sb.len;
    return 0;
}

const char *mail_msg_id(const char *jid, const char *domain, char *out)
{
    size_t n = strlen(jid);
    bool plain = n > 0 && n <= 128;

    for (size_t i = 0; i < n && plain; i++)
        plain = (jid[i] >= 'a' && jid[i] <= 'z') || (jid[i] >= 'A' && jid[i] <= 'Z') ||
                (jid[i] >= '0' && jid[i] <= '9') || strchr("._-", jid[i]);
    if (strlen(domain) > MAIL_MAX_ID - 160)
        domain = "nexusd.invalid";
    if (plain)
        (void)snprintf(out, MAIL_MAX_ID + 1, "%s.nexus@%s", jid, domain);
    else
        (void)snprintf(out, MAIL_MAX_ID + 1, "%016llx.nexus@%s", (unsigned long long)fnv64(jid),
                       domain);
    return out;
}
