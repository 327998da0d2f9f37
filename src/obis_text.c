/* obis_text.c - OBIS text data sets of DSMR P1 and IEC 62056-21 (see obis_text.h). */
#include <string.h>

#include "obis_text.h"

static bool is_ctl(unsigned char ch) { return ch < 0x20 || ch == 0x7f; }

enum sm_err sm_ot_parse(const char *p, size_t n, size_t *used, struct sm_ot_set *out)
{
	size_t i = 0;
	enum sm_err e;

	if (p == NULL || n == 0)
		return SM_E_SYNTAX;
	out->ngroups = 0;
	out->has_obis = false;
	memset(&out->obis, 0, sizeof out->obis);
	if (p[0] != '(') {
		e = sm_obis_parse(p, n, &i, &out->obis);
		if (e != SM_OK)
			return e;
		out->has_obis = true;
	}
	if (i >= n || p[i] != '(')
		return SM_E_SYNTAX;
	while (i < n && p[i] == '(') {
		if (out->ngroups == SM_OT_MAX_GROUPS)
			return SM_E_TOO_LONG;
		size_t start = ++i;
		size_t star = 0;
		bool have_star = false;
		for (;;) {
			if (i >= n)
				return SM_E_SYNTAX; /* missing ')' */
			unsigned char ch = (unsigned char)p[i];
			if (ch == ')')
				break;
			if (ch == '(' || is_ctl(ch))
				return SM_E_SYNTAX;
			if (ch == '*' && !have_star) {
				have_star = true;
				star = i;
			}
			i++;
		}
		struct sm_ot_group *g = &out->g[out->ngroups++];
		g->val = p + start;
		if (have_star) {
			g->val_n = star - start;
			g->unit = p + star + 1;
			g->unit_n = i - star - 1;
		} else {
			g->val_n = i - start;
			g->unit = NULL;
			g->unit_n = 0;
		}
		i++; /* ')' */
	}
	*used = i;
	return SM_OK;
}

enum sm_err sm_ot_group_number(const struct sm_ot_group *g, int64_t *raw, int8_t *scale,
			       enum sm_unit *unit, char unit_text[SM_UNIT_TEXT])
{
	int64_t r;
	int8_t s, ex;
	enum sm_unit u;
	enum sm_err e = sm_decimal_parse(g->val, g->val_n, &r, &s);
	if (e != SM_OK)
		return e;
	e = sm_unit_parse(g->unit, g->unit != NULL ? g->unit_n : 0, &u, &ex);
	if (e != SM_OK)
		return e;
	e = sm_decimal_rescale(&r, &s, ex);
	if (e != SM_OK)
		return e;
	unit_text[0] = '\0';
	if (u == SM_UNIT_OTHER) {
		size_t k = g->unit_n < SM_UNIT_TEXT - 1 ? g->unit_n : SM_UNIT_TEXT - 1;
		memcpy(unit_text, g->unit, k);
		unit_text[k] = '\0';
	}
	*raw = r;
	*scale = s;
	*unit = u;
	return SM_OK;
}

static bool two(const char *p, int *v)
{
	if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9')
		return false;
	*v = (p[0] - '0') * 10 + (p[1] - '0');
	return true;
}

bool sm_ot_timestamp(const char *p, size_t n, int64_t *out_ms)
{
	int f[6];
	if (p == NULL || n != 13)
		return false;
	for (int k = 0; k < 6; k++)
		if (!two(p + 2 * k, &f[k]))
			return false;
	int off;
	switch (p[12]) {
	case 'S': off = 120; break;
	case 'W': off = 60; break;
	default: return false;
	}
	return sm_civil_to_ms(2000 + f[0], f[1], f[2], f[3], f[4], f[5], off, out_ms);
}
