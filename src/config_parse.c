/*
 * config_parse.c - a parser for collectd's configuration syntax, producing
 * struct sm_cfg_node trees (config.h).  Used by the smartmeter program; the
 * plugin gets collectd's own tree instead.
 *
 * Two layers: a lexer that turns bytes into tokens (words, quoted strings,
 * '<', '</', '>', end of line) and a recursive-descent parser over them,
 * bounded to SM_CFG_MAX_DEPTH nested blocks.  Nothing is read outside
 * text[0..n).
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "config.h"
#include "cursor.h"

enum tok_type { TOK_EOF, TOK_EOL, TOK_WORD, TOK_STRING, TOK_LT, TOK_LTSLASH, TOK_GT };

struct tok {
	enum tok_type type;
	int line;
	const char *p; /* WORD: the bytes in the input */
	size_t n;
	char *s;       /* STRING: unescaped, owned until handed over */
};

struct lexer {
	struct sm_cur cur;
	int line;
	const char *file;
	char *err;
	size_t errlen;
	enum sm_err rc; /* first error */
};

static void __attribute__((format(printf, 3, 4)))
lex_error(struct lexer *lx, int line, const char *fmt, ...)
{
	if (lx->rc != SM_OK)
		return;
	lx->rc = SM_E_CONFIG;
	if (lx->err == NULL || lx->errlen == 0)
		return;
	int k = snprintf(lx->err, lx->errlen, "%s:%d: ", lx->file, line);
	if (k < 0 || (size_t)k >= lx->errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(lx->err + k, lx->errlen - (size_t)k, fmt, ap);
	va_end(ap);
}

static void nomem(struct lexer *lx)
{
	if (lx->rc != SM_OK)
		return;
	lx->rc = SM_E_NOMEM;
	if (lx->err != NULL && lx->errlen > 0)
		snprintf(lx->err, lx->errlen, "%s: out of memory", lx->file);
}

/* Quote up to 40 bytes of p[0..n) for a message, escaping what is not
 * printable ASCII. */
static void quote_bytes(const char *p, size_t n, char *out, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	if (cap < 8) {
		if (cap > 0)
			out[0] = '\0';
		return;
	}
	out[o++] = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (i >= 40 || o + 9 >= cap) { /* room for "...\"" and NUL */
			out[o++] = '.';
			out[o++] = '.';
			out[o++] = '.';
			break;
		}
		if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') {
			out[o++] = (char)ch;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o++] = '"';
	out[o] = '\0';
}

/* A token for a message: quoted, unless it holds a run of hex digits as
 * long as a key's half (a key typed without quotes never goes into a log
 * line); then only its length. */
static void quote_token(const struct tok *t, char *out, size_t cap)
{
	quote_bytes(t->p, t->n, out, cap);
	if (sm_text_has_key_digits(out))
		snprintf(out, cap, "a value of %zu characters (not shown: it may be a key)", t->n);
}

static bool is_word_char(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '_';
}

/* Ends an unquoted word. */
static bool is_delim(int ch)
{
	return ch < 0 || ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '#' ||
	       ch == '"' || ch == '<' || ch == '>' || ch == '\\' || ch == '\0';
}

/* Skip blanks, comments and line continuations; false on a stray
 * backslash (error set). */
static bool skip_space(struct lexer *lx)
{
	struct sm_cur *c = &lx->cur;
	for (;;) {
		int ch = sm_cur_peek(c);
		if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\f' || ch == '\v') {
			c->p++;
		} else if (ch == '#') {
			while (!sm_cur_eof(c) && *c->p != '\n')
				c->p++;
		} else if (ch == '\\') {
			size_t left = sm_cur_left(c);
			if (left >= 2 && c->p[1] == '\n') {
				c->p += 2;
				lx->line++;
			} else if (left >= 3 && c->p[1] == '\r' && c->p[2] == '\n') {
				c->p += 3;
				lx->line++;
			} else {
				lex_error(lx, lx->line,
					  "'\\' outside quotes must end the line (line continuation)");
				return false;
			}
		} else {
			return true;
		}
	}
}

/* Length of a line end at q ("\n" or "\r\n"), 0 if none. */
static size_t eol_len(const uint8_t *q, const uint8_t *end)
{
	if (q < end && *q == '\n')
		return 1;
	if (q + 1 < end && q[0] == '\r' && q[1] == '\n')
		return 2;
	return 0;
}

/*
 * A quoted string starting at the '"' under the cursor.  A backslash takes
 * the next character literally; a backslash at the end of a line continues
 * the string on the next line without its leading blanks (as collectd does
 * for long SQL statements).  A bare line end inside quotes is an error.
 */
static bool lex_string(struct lexer *lx, struct tok *t)
{
	struct sm_cur *c = &lx->cur;
	c->p++; /* '"' */
	/* First pass: find the end; the bytes up to it bound the length. */
	const uint8_t *start = c->p;
	const uint8_t *q = start;
	for (;;) {
		if (q >= c->end || *q == '\n') {
			lex_error(lx, t->line, "unterminated string");
			return false;
		}
		if (*q == '\0') {
			lex_error(lx, t->line, "NUL byte inside a string");
			return false;
		}
		if (*q == '"')
			break;
		if (*q == '\\') {
			size_t el = eol_len(q + 1, c->end);
			if (el > 0) {
				q += 1 + el;
				continue;
			}
			if (q + 1 >= c->end) {
				lex_error(lx, t->line, "unterminated string");
				return false;
			}
			if (q[1] == '\0') {
				lex_error(lx, t->line, "NUL byte inside a string");
				return false;
			}
			q++;
		}
		q++;
	}
	char *s = malloc((size_t)(q - start) + 1);
	if (s == NULL) {
		nomem(lx);
		return false;
	}
	size_t o = 0;
	for (const uint8_t *r = start; r < q; r++) {
		if (*r == '\\') {
			size_t el = eol_len(r + 1, q);
			if (el > 0) {
				lx->line++;
				r += el + 1;
				while (r < q && (*r == ' ' || *r == '\t'))
					r++;
				r--; /* the loop's r++ */
				continue;
			}
			r++;
		}
		s[o++] = (char)*r;
	}
	s[o] = '\0';
	c->p = q + 1;
	t->type = TOK_STRING;
	t->s = s;
	return true;
}

/* Next token; false on error (lx->rc set). */
static bool lex_next(struct lexer *lx, struct tok *t)
{
	struct sm_cur *c = &lx->cur;
	memset(t, 0, sizeof(*t));
	if (!skip_space(lx))
		return false;
	t->line = lx->line;
	int ch = sm_cur_peek(c);
	switch (ch) {
	case -1:
		t->type = TOK_EOF;
		return true;
	case '\n':
		c->p++;
		lx->line++;
		t->type = TOK_EOL;
		return true;
	case '"':
		return lex_string(lx, t);
	case '<':
		c->p++;
		if (sm_cur_peek(c) == '/') {
			c->p++;
			t->type = TOK_LTSLASH;
		} else {
			t->type = TOK_LT;
		}
		return true;
	case '>':
		c->p++;
		t->type = TOK_GT;
		return true;
	case '\0':
		lex_error(lx, t->line, "NUL byte");
		return false;
	default:
		break;
	}
	t->type = TOK_WORD;
	t->p = (const char *)c->p;
	while (!is_delim(sm_cur_peek(c)))
		c->p++;
	t->n = (size_t)((const char *)c->p - t->p);
	return true;
}

static void tok_free(struct tok *t)
{
	free(t->s);
	t->s = NULL;
}

/* ---- numbers ---- */

static const double pow10_exact[] = {
	1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

static double scale10(double v, int e)
{
	while (e > 22) {
		v *= 1e22;
		e -= 22;
		if (!isfinite(v))
			return v;
	}
	while (e < -22) {
		v /= 1e22;
		e += 22;
		if (v == 0.0)
			return v;
	}
	if (e >= 0)
		return v * pow10_exact[e];
	return v / pow10_exact[-e];
}

enum num_rc { NUM_OK, NUM_SYNTAX, NUM_RANGE };

static enum num_rc parse_num(const char *p, size_t n, double *out)
{
	struct sm_cur c;
	bool neg = false;
	if (p == NULL)
		return NUM_SYNTAX;
	sm_cur_init(&c, p, n);
	int ch = sm_cur_peek(&c);
	if (ch == '+' || ch == '-') {
		neg = ch == '-';
		c.p++;
	}
	if (sm_cur_left(&c) >= 2 && c.p[0] == '0' && (c.p[1] == 'x' || c.p[1] == 'X')) {
		c.p += 2;
		uint64_t v = 0;
		unsigned digits = 0;
		while (!sm_cur_eof(&c)) {
			int h = sm_hexval(*c.p);
			if (h < 0)
				return NUM_SYNTAX;
			if (digits == 16)
				return NUM_RANGE;
			v = (v << 4) | (uint64_t)h;
			digits++;
			c.p++;
		}
		if (digits == 0)
			return NUM_SYNTAX;
		*out = neg ? -(double)v : (double)v;
		return NUM_OK;
	}
	uint64_t mant = 0;
	unsigned sig = 0;
	int exp10 = 0;
	bool any = false;
	while ((ch = sm_cur_peek(&c)) >= '0' && ch <= '9') {
		any = true;
		c.p++;
		if (mant == 0 && ch == '0')
			continue;
		if (sig < 19) {
			mant = mant * 10 + (uint64_t)(ch - '0');
			sig++;
		} else if (exp10 < 100000) {
			exp10++;
		}
	}
	if (sm_cur_peek(&c) == '.') {
		c.p++;
		bool frac = false;
		while ((ch = sm_cur_peek(&c)) >= '0' && ch <= '9') {
			frac = true;
			c.p++;
			if (sig < 19 && !(mant == 0 && ch == '0')) {
				mant = mant * 10 + (uint64_t)(ch - '0');
				sig++;
				exp10--;
			} else if (mant == 0 && exp10 > -100000) {
				exp10--;
			}
		}
		if (!frac)
			return NUM_SYNTAX;
		any = true;
	}
	if (!any)
		return NUM_SYNTAX;
	ch = sm_cur_peek(&c);
	if (ch == 'e' || ch == 'E') {
		c.p++;
		bool eneg = false;
		ch = sm_cur_peek(&c);
		if (ch == '+' || ch == '-') {
			eneg = ch == '-';
			c.p++;
		}
		int e = 0;
		unsigned ed = 0;
		while ((ch = sm_cur_peek(&c)) >= '0' && ch <= '9') {
			c.p++;
			if (e < 100000)
				e = e * 10 + (ch - '0');
			ed++;
		}
		if (ed == 0)
			return NUM_SYNTAX;
		exp10 += eneg ? -e : e;
	}
	if (!sm_cur_eof(&c))
		return NUM_SYNTAX;
	/* "0.1000" is 1e-1: with fewer digits the mantissa stays an exact
	 * double more often, and one rounding step gives the nearest double */
	while (mant != 0 && mant % 10 == 0 && exp10 < 100000) {
		mant /= 10;
		exp10++;
	}
	double v = mant == 0 ? 0.0 : scale10((double)mant, exp10);
	if (!isfinite(v))
		return NUM_RANGE;
	*out = neg ? -v : v;
	return NUM_OK;
}

bool sm_cfg_parse_number(const char *p, size_t n, double *out)
{
	double v;
	if (parse_num(p, n, &v) != NUM_OK)
		return false;
	*out = v;
	return true;
}

/* ---- words ---- */

static bool word_eq(const struct tok *t, const char *s)
{
	size_t n = strlen(s);
	return t->n == n && strncasecmp(t->p, s, n) == 0;
}

static bool is_name_word(const char *p, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_word_char((unsigned char)p[i]))
			return false;
	return true;
}

/* Dotted IPv4 address with an optional :port, as collectd's lexer takes it. */
static bool is_ipv4_word(const char *p, size_t n)
{
	struct sm_cur c;
	sm_cur_init(&c, p, n);
	for (int g = 0; g < 4; g++) {
		if (g > 0) {
			if (sm_cur_peek(&c) != '.')
				return false;
			c.p++;
		}
		unsigned v = 0, d = 0;
		int ch;
		while ((ch = sm_cur_peek(&c)) >= '0' && ch <= '9' && d < 3) {
			v = v * 10 + (unsigned)(ch - '0');
			d++;
			c.p++;
		}
		if (d == 0 || v > 255)
			return false;
	}
	if (sm_cur_peek(&c) == ':') {
		c.p++;
		unsigned d = 0;
		int ch;
		while ((ch = sm_cur_peek(&c)) >= '0' && ch <= '9' && d < 5) {
			d++;
			c.p++;
		}
		if (d == 0)
			return false;
	}
	return sm_cur_eof(&c);
}

static char *dup_bytes(const char *p, size_t n)
{
	char *s = malloc(n + 1);
	if (s != NULL) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

/* Turn a value token into a value; false on error (set). */
static bool tok_value(struct lexer *lx, struct tok *t, struct sm_cfg_value *v)
{
	char q[64];
	memset(v, 0, sizeof(*v));
	switch (t->type) {
	case TOK_STRING:
		v->type = SM_CV_STRING;
		v->s = t->s;
		t->s = NULL;
		return true;
	case TOK_WORD:
		break;
	case TOK_LT:
		lex_error(lx, t->line, "unexpected '<' (a block must start its own line)");
		return false;
	case TOK_LTSLASH:
		lex_error(lx, t->line, "unexpected '</' (a closing tag must be on its own line)");
		return false;
	case TOK_GT:
		lex_error(lx, t->line, "unexpected '>'");
		return false;
	default:
		lex_error(lx, t->line, "internal: not a value");
		return false;
	}
	static const char *const yes[] = {"true", "yes", "on"};
	static const char *const no[] = {"false", "no", "off"};
	for (size_t i = 0; i < 3; i++) {
		if (word_eq(t, yes[i]) || word_eq(t, no[i])) {
			v->type = SM_CV_BOOL;
			v->b = word_eq(t, yes[i]);
			return true;
		}
	}
	double d;
	switch (parse_num(t->p, t->n, &d)) {
	case NUM_OK:
		v->type = SM_CV_NUMBER;
		v->num = d;
		return true;
	case NUM_RANGE:
		quote_token(t, q, sizeof(q));
		lex_error(lx, t->line, "number out of range: %s", q);
		return false;
	case NUM_SYNTAX:
		break;
	}
	if (is_name_word(t->p, t->n) || is_ipv4_word(t->p, t->n)) {
		v->type = SM_CV_STRING;
		v->s = dup_bytes(t->p, t->n);
		if (v->s == NULL) {
			nomem(lx);
			return false;
		}
		return true;
	}
	quote_token(t, q, sizeof(q));
	lex_error(lx, t->line,
		  "unexpected %s (quote values that contain characters other than letters, digits and '_')",
		  q);
	return false;
}

/* ---- tree building ---- */

void sm_cfg_node_free(struct sm_cfg_node *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->nvalues; i++)
		if (n->values[i].type == SM_CV_STRING)
			free(n->values[i].s);
	free(n->values);
	for (size_t i = 0; i < n->nchildren; i++)
		sm_cfg_node_free(&n->children[i]);
	free(n->children);
	free(n->key);
	memset(n, 0, sizeof(*n));
}

static bool grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return true;
	size_t nc = *cap ? *cap * 2 : 4;
	while (nc < need)
		nc *= 2;
	void *p = realloc(*arr, nc * elem);
	if (p == NULL)
		return false;
	*arr = p;
	*cap = nc;
	return true;
}

/* Append an empty child to parent; NULL on allocation failure. */
static struct sm_cfg_node *add_child(struct lexer *lx, struct sm_cfg_node *parent, size_t *cap)
{
	void *arr = parent->children;
	if (!grow(&arr, cap, parent->nchildren + 1, sizeof(struct sm_cfg_node))) {
		nomem(lx);
		return NULL;
	}
	parent->children = arr;
	struct sm_cfg_node *c = &parent->children[parent->nchildren++];
	memset(c, 0, sizeof(*c));
	return c;
}

/* Read values into node until the token that ends them (EOL, EOF or GT is
 * left in *t); false on error. */
static bool read_values(struct lexer *lx, struct sm_cfg_node *node, struct tok *t, bool in_header)
{
	size_t cap = 0;
	for (;;) {
		if (!lex_next(lx, t))
			return false;
		if (t->type == TOK_EOL || t->type == TOK_EOF)
			return true;
		if (t->type == TOK_GT && in_header)
			return true;
		void *arr = node->values;
		if (!grow(&arr, &cap, node->nvalues + 1, sizeof(struct sm_cfg_value))) {
			tok_free(t);
			nomem(lx);
			return false;
		}
		node->values = arr;
		struct sm_cfg_value v;
		bool ok = tok_value(lx, t, &v);
		tok_free(t);
		if (!ok)
			return false;
		node->values[node->nvalues++] = v;
	}
}

/* After '>' of a tag: only blanks and a comment until the end of the line. */
static bool expect_line_end(struct lexer *lx, const char *what, const char *key)
{
	struct tok t;
	if (!lex_next(lx, &t))
		return false;
	if (t.type == TOK_EOL || t.type == TOK_EOF)
		return true;
	tok_free(&t);
	lex_error(lx, t.line, "unexpected text after %s%s>", what, key);
	return false;
}

static bool take_key(struct lexer *lx, const struct tok *t, struct sm_cfg_node *node)
{
	node->key = dup_bytes(t->p, t->n);
	if (node->key == NULL) {
		nomem(lx);
		return false;
	}
	node->line = t->line;
	return true;
}

static bool key_ok(const struct tok *t)
{
	if (t->type != TOK_WORD || !is_name_word(t->p, t->n))
		return false;
	int ch = (unsigned char)t->p[0];
	return !(ch >= '0' && ch <= '9');
}

static void describe_tok(const struct tok *t, char *out, size_t cap)
{
	switch (t->type) {
	case TOK_EOF:
		snprintf(out, cap, "the end of the file");
		break;
	case TOK_EOL:
		snprintf(out, cap, "the end of the line");
		break;
	case TOK_WORD:
		quote_token(t, out, cap);
		break;
	case TOK_STRING:
		snprintf(out, cap, "a quoted string");
		break;
	case TOK_LT:
		snprintf(out, cap, "'<'");
		break;
	case TOK_LTSLASH:
		snprintf(out, cap, "'</'");
		break;
	case TOK_GT:
		snprintf(out, cap, "'>'");
		break;
	}
}

/*
 * Parse items into parent until EOF (open == NULL) or the closing tag of
 * the block open (opened on open_line).  depth = blocks enclosing parent.
 */
static bool parse_items(struct lexer *lx, struct sm_cfg_node *parent, int depth,
			const char *open, int open_line)
{
	size_t cap = 0;
	char d[64];
	for (;;) {
		struct tok t;
		if (!lex_next(lx, &t))
			return false;
		switch (t.type) {
		case TOK_EOL:
			continue;
		case TOK_EOF:
			if (open != NULL) {
				lex_error(lx, open_line, "<%s> is not closed before the end of the file",
					  open);
				return false;
			}
			return true;
		case TOK_WORD: {
			if (!key_ok(&t))
				break;
			struct sm_cfg_node *n = add_child(lx, parent, &cap);
			if (n == NULL || !take_key(lx, &t, n))
				return false;
			if (!read_values(lx, n, &t, false))
				return false;
			if (t.type == TOK_EOF) {
				if (open != NULL) {
					lex_error(lx, open_line,
						  "<%s> is not closed before the end of the file", open);
					return false;
				}
				return true;
			}
			continue;
		}
		case TOK_LT: {
			int line = t.line;
			if (!lex_next(lx, &t))
				return false;
			if (!key_ok(&t)) {
				describe_tok(&t, d, sizeof(d));
				tok_free(&t);
				lex_error(lx, line, "expected a block name after '<', got %s", d);
				return false;
			}
			if (depth >= SM_CFG_MAX_DEPTH) {
				lex_error(lx, line, "blocks nested deeper than %d", SM_CFG_MAX_DEPTH);
				return false;
			}
			struct sm_cfg_node *n = add_child(lx, parent, &cap);
			if (n == NULL || !take_key(lx, &t, n))
				return false;
			n->block = true;
			if (!read_values(lx, n, &t, true))
				return false;
			if (t.type != TOK_GT) {
				lex_error(lx, line, "expected '>' to end <%s ...", n->key);
				return false;
			}
			if (!expect_line_end(lx, "<", n->key))
				return false;
			if (!parse_items(lx, n, depth + 1, n->key, line))
				return false;
			continue;
		}
		case TOK_LTSLASH: {
			int line = t.line;
			if (!lex_next(lx, &t))
				return false;
			if (!key_ok(&t)) {
				describe_tok(&t, d, sizeof(d));
				tok_free(&t);
				lex_error(lx, line, "expected a block name after '</', got %s", d);
				return false;
			}
			if (open == NULL) {
				lex_error(lx, line, "</%.*s> without an open block", (int)t.n, t.p);
				return false;
			}
			if (!word_eq(&t, open)) {
				lex_error(lx, line, "</%.*s> does not close <%s> (opened on line %d)",
					  (int)t.n, t.p, open, open_line);
				return false;
			}
			struct tok gt;
			if (!lex_next(lx, &gt))
				return false;
			if (gt.type != TOK_GT) {
				tok_free(&gt);
				lex_error(lx, line, "expected '>' to end </%s", open);
				return false;
			}
			return expect_line_end(lx, "</", open);
		}
		case TOK_STRING:
		case TOK_GT:
			break;
		}
		describe_tok(&t, d, sizeof(d));
		tok_free(&t);
		lex_error(lx, t.line, "expected an option name or a block, got %s", d);
		return false;
	}
}

enum sm_err sm_cfg_parse(const char *text, size_t n, const char *filename,
			 struct sm_cfg_node *root, char *err, size_t errlen)
{
	struct lexer lx;
	memset(&lx, 0, sizeof(lx));
	lx.file = filename != NULL ? filename : "config";
	lx.err = err;
	lx.errlen = errlen;
	lx.line = 1;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (root == NULL) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: internal: no tree given", lx.file);
		return SM_E_CONFIG;
	}
	memset(root, 0, sizeof(*root));
	if (n > SM_CFG_MAX_TEXT) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: too large (%zu bytes, at most %u)", lx.file, n,
				 SM_CFG_MAX_TEXT);
		return SM_E_CONFIG;
	}
	if (text == NULL && n > 0) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: internal: no text given", lx.file);
		return SM_E_CONFIG;
	}
	sm_cur_init(&lx.cur, text != NULL ? text : "", text != NULL ? n : 0);
	if (!parse_items(&lx, root, 0, NULL, 0)) {
		sm_cfg_node_free(root);
		return lx.rc != SM_OK ? lx.rc : SM_E_CONFIG;
	}
	return SM_OK;
}

static bool is_smartmeter_block(const struct sm_cfg_node *c)
{
	return c->key != NULL && strcasecmp(c->key, "Plugin") == 0 && c->nvalues >= 1 &&
	       c->values[0].type == SM_CV_STRING && c->values[0].s != NULL &&
	       strcasecmp(c->values[0].s, "smartmeter") == 0;
}

const struct sm_cfg_node *sm_cfg_next_smartmeter(const struct sm_cfg_node *root,
						 const struct sm_cfg_node *prev)
{
	if (root == NULL)
		return NULL;
	size_t i = prev == NULL ? 0 : (size_t)(prev - root->children) + 1;
	for (; i < root->nchildren; i++)
		if (is_smartmeter_block(&root->children[i]))
			return &root->children[i];
	return NULL;
}

const struct sm_cfg_node *sm_cfg_find_smartmeter(const struct sm_cfg_node *root)
{
	const struct sm_cfg_node *c = sm_cfg_next_smartmeter(root, NULL);
	return c != NULL ? c : root;
}
