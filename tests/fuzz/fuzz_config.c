/*
 * fuzz_config.c - libFuzzer target for the configuration path: the input is
 * collectd.conf text, taken the way a user's file is (sm_cfg_parse, every
 * <Plugin smartmeter> block through sm_config_from_tree, sm_cfg_wipe_keys,
 * sm_config_validate with its Modbus planning, sm_config_ports,
 * sm_mb_plan_format and sm_line_format as `read --plan/--check` show them),
 * and the same input once more as the command line's meter flags
 * (sm_config_add_meter, sm_meter_set_flag, then the same validation).
 * Built with clang -fsanitize=fuzzer (make fuzz-config) or with a replay
 * main() over the seed corpus (make check).  Everything allocated is freed:
 * LeakSanitizer reports what is not.
 *
 * Flag form: every line of the input is one argument pair, "--flag value",
 * "--flag=value" or "--flag" alone (value NULL: a boolean flag); "-p X" and
 * "-d X" are --protocol and --device; "--name X" names the meter (the last
 * one wins, as sm_cli_prescan_name does); blank lines are skipped; flags are
 * applied in order up to the first error, as `smartmeter read` does.
 *
 * Invariants (a broken one aborts, a finding):
 *  - a failing call returns a code its header documents, with a non-empty,
 *    NUL-terminated error text that fits the buffer (the buffer is an
 *    exactly sized heap block, so a write past it is an ASan report; about a
 *    quarter of the inputs get a short buffer, which must truncate cleanly);
 *  - a failed sm_cfg_parse leaves the root empty; a parsed tree has a key on
 *    every node below the root, a string in every STRING value, finite
 *    numbers, children only in blocks, at most SM_CFG_MAX_DEPTH levels;
 *  - after sm_cfg_wipe_keys every Key and AuthKey value is empty, and
 *    sm_cfg_node_free leaves the node zeroed;
 *  - no key material in any error or warning text: every run of 12 or more
 *    hex digits holding a letter other than 'e' (number formatting cannot
 *    make one) of a Key or AuthKey value (or of the key files below) must not
 *    appear there, unless it also occurs in a non-key string of the input
 *    (a meter name, another option's value), which an error may quote;
 *  - a valid configuration is consistent: at least one meter; each has a
 *    valid name, a protocol, a device, sane line settings and timeouts;
 *    modbus meters have exactly one of Model and RegisterMap, their map and
 *    a plan that covers every register once within the map's limits; ports
 *    have distinct devices and >= 1 meter each, every meter is on exactly
 *    one port with the port's device and line settings; Modbus slave ids
 *    on a port differ, polled IEC 62056-21 meters sharing a port have
 *    different addresses; warnings are '\n'-terminated lines.
 *
 * KeyFile: on its first call the target writes three key files (atomically,
 * by rename) that the seeds name: /tmp/sm-fuzz-config-key-0600 (a valid key,
 * mode 0600), /tmp/sm-fuzz-config-key-0644 (a valid key, mode 0644: a
 * warning) and /tmp/sm-fuzz-config-key-bad (31 hex digits).  Their keys are
 * key material for the check above.  If /tmp is not writable those seeds
 * just take the error path.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "modbus_map.h"
#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                        \
	do {                                                                            \
		if (!(c)) {                                                             \
			fprintf(stderr, "fuzz_config: %s:%d: %s\n", __FILE__, __LINE__, #c); \
			abort();                                                        \
		}                                                                       \
	} while (0)

/* Inputs beyond this are not interesting and slow the run down. */
#define MAX_INPUT 65536
#define MAX_FLAG_LINES 96
#define ERR_LONG 1024

/* ---- key files ---- */
static const char *const key_file_paths[] = {
	"/tmp/sm-fuzz-config-key-0600",
	"/tmp/sm-fuzz-config-key-0644",
	"/tmp/sm-fuzz-config-key-bad",
};
static const char *const key_file_texts[] = {
	"c0ffee00deadbeef0123456789abcdef\n",
	"  ABCDEF0123456789FEDCBA9876543210  \n",
	"0123456789abcdef0123456789abcde\n",
};
static const mode_t key_file_modes[] = {0600, 0644, 0600};

static void write_key_file(const char *path, const char *text, mode_t mode)
{
	char tmp[128];
	snprintf(tmp, sizeof tmp, "%s.%ld", path, (long)getpid());
	FILE *fp = fopen(tmp, "w");
	if (fp == NULL)
		return;
	bool ok = fputs(text, fp) >= 0;
	ok = fclose(fp) == 0 && ok;
	if (ok && chmod(tmp, mode) == 0 && rename(tmp, path) == 0)
		return;
	unlink(tmp);
}

static void key_files_once(void)
{
	static int done; /* test harness state, not library state */
	if (done)
		return;
	done = 1;
	for (size_t i = 0; i < sizeof key_file_paths / sizeof key_file_paths[0]; i++)
		write_key_file(key_file_paths[i], key_file_texts[i], key_file_modes[i]);
}

/* ---- secrets and public strings ---- */
struct strlist {
	const char **v;
	size_t n, cap;
};

static void strlist_add(struct strlist *l, const char *s)
{
	if (s == NULL)
		return;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		const char **nv = realloc(l->v, cap * sizeof *nv);
		CHECK(nv != NULL);
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->n++] = s;
}

static void strlist_free(struct strlist *l)
{
	free(l->v);
	memset(l, 0, sizeof *l);
}

struct secrets {
	struct strlist keys;   /* key texts (runs are taken from them) */
	struct strlist pub;    /* other strings of the input */
	char **owned;          /* copies made for the flag form */
	size_t nowned;
};

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool public_has(const struct secrets *s, const char *run, size_t n)
{
	char needle[256];
	if (n >= sizeof needle)
		n = sizeof needle - 1;
	memcpy(needle, run, n);
	needle[n] = '\0';
	for (size_t i = 0; i < s->pub.n; i++)
		if (strcasestr(s->pub.v[i], needle) != NULL)
			return true;
	return false;
}

/* Abort when a key run of s appears in text (case-insensitively). */
static void check_no_key(const struct secrets *s, const char *text)
{
	if (text == NULL || *text == '\0')
		return;
	for (size_t k = 0; k < s->keys.n; k++) {
		const char *t = s->keys.v[k];
		size_t i = 0;
		while (t[i] != '\0') {
			if (!is_hex(t[i])) {
				i++;
				continue;
			}
			size_t st = i;
			bool letter = false;
			while (is_hex(t[i])) {
				char c = (char)(t[i] | 0x20);
				if (c >= 'a' && c <= 'f' && c != 'e')
					letter = true;
				i++;
			}
			size_t n = i - st;
			if (n < 12 || !letter || n > 200 || public_has(s, t + st, n))
				continue;
			char needle[256];
			memcpy(needle, t + st, n);
			needle[n] = '\0';
			if (strcasestr(text, needle) != NULL) {
				fprintf(stderr, "fuzz_config: key material \"%s\" in: %s\n", needle, text);
				abort();
			}
		}
	}
}

static void secrets_init(struct secrets *s)
{
	memset(s, 0, sizeof *s);
	for (size_t i = 0; i < sizeof key_file_texts / sizeof key_file_texts[0]; i++)
		strlist_add(&s->keys, key_file_texts[i]);
}

static void secrets_free(struct secrets *s)
{
	for (size_t i = 0; i < s->nowned; i++)
		free(s->owned[i]);
	free(s->owned);
	strlist_free(&s->keys);
	strlist_free(&s->pub);
}

static bool is_key_name(const char *k)
{
	return k != NULL && (strcasecmp(k, "Key") == 0 || strcasecmp(k, "AuthKey") == 0);
}

/* Collect the tree's key values and its other strings. */
static void collect_tree(struct secrets *s, const struct sm_cfg_node *n)
{
	bool secret = is_key_name(n->key);
	strlist_add(&s->pub, n->key);
	for (size_t i = 0; i < n->nvalues; i++)
		if (n->values[i].type == SM_CV_STRING)
			strlist_add(secret ? &s->keys : &s->pub, n->values[i].s);
	for (size_t i = 0; i < n->nchildren; i++)
		collect_tree(s, &n->children[i]);
}

/* ---- error texts ---- */
static size_t pick_errlen(const uint8_t *data, size_t size)
{
	if (size % 4 == 3)
		return 2 + data[size - 1] % 62u;
	return ERR_LONG;
}

static void check_err(const char *err, size_t errlen, const struct secrets *s)
{
	const char *nul = memchr(err, '\0', errlen);
	CHECK(nul != NULL);
	CHECK(err[0] != '\0');
	if (s != NULL)
		check_no_key(s, err);
}

static char *err_alloc(size_t errlen)
{
	char *e = malloc(errlen);
	CHECK(e != NULL);
	memset(e, 0x5a, errlen); /* not NUL: an unterminated message shows */
	return e;
}

/* ---- the parsed tree ---- */
static void check_node(const struct sm_cfg_node *n, int depth, bool root)
{
	CHECK(depth <= SM_CFG_MAX_DEPTH + 1);
	if (!root)
		CHECK(n->key != NULL && n->key[0] != '\0');
	CHECK(n->nvalues == 0 || n->values != NULL);
	CHECK(n->nchildren == 0 || n->children != NULL);
	for (size_t i = 0; i < n->nvalues; i++) {
		const struct sm_cfg_value *v = &n->values[i];
		CHECK(v->type == SM_CV_STRING || v->type == SM_CV_NUMBER || v->type == SM_CV_BOOL);
		if (v->type == SM_CV_STRING)
			CHECK(v->s != NULL);
		if (v->type == SM_CV_NUMBER)
			CHECK(isfinite(v->num));
	}
	if (n->nchildren > 0 && !root)
		CHECK(n->block);
	for (size_t i = 0; i < n->nchildren; i++)
		check_node(&n->children[i], depth + 1, false);
}

static void check_wiped(const struct sm_cfg_node *n)
{
	if (is_key_name(n->key))
		for (size_t i = 0; i < n->nvalues; i++)
			if (n->values[i].type == SM_CV_STRING)
				CHECK(n->values[i].s != NULL && n->values[i].s[0] == '\0');
	for (size_t i = 0; i < n->nchildren; i++)
		check_wiped(&n->children[i]);
}

static void check_zeroed(const struct sm_cfg_node *n)
{
	CHECK(n->key == NULL && n->values == NULL && n->nvalues == 0 && n->children == NULL &&
	      n->nchildren == 0);
}

/* ---- a valid configuration ---- */
static bool valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

static bool line_eq(const struct sm_line *a, const struct sm_line *b)
{
	return a->baud == b->baud && a->databits == b->databits && a->parity == b->parity &&
	       a->stopbits == b->stopbits;
}

static bool is_modbus(const struct sm_meter_cfg *m)
{
	return strcmp(m->proto->name, "modbus") == 0;
}

static void check_plan(const struct sm_mb_map *map, const struct sm_mb_plan *p)
{
	CHECK(map->nregs >= 1 && map->nregs <= SM_MB_MAX_REGS);
	CHECK(p->nregs == map->nregs);
	CHECK(p->nreq >= 1 && p->nreq <= SM_MB_MAX_REQS);
	size_t words = 0;
	for (size_t r = 0; r < p->nreq; r++) {
		const struct sm_mb_req *q = &p->req[r];
		CHECK(q->count >= 1 && q->count <= map->max_count);
		CHECK(q->word_off == words);
		CHECK((size_t)q->first + q->nregs <= p->nregs);
		words += q->count;
	}
	CHECK(words == p->nwords && words <= SM_MB_MAX_WORDS);
	for (size_t i = 0; i < map->nregs; i++) {
		const struct sm_mb_reg *g = &map->regs[i];
		CHECK(p->reg_req[i] < p->nreq);
		const struct sm_mb_req *q = &p->req[p->reg_req[i]];
		unsigned w = sm_mb_type_words(g->type);
		CHECK(w > 0);
		CHECK(q->function == g->function);
		CHECK(g->address >= q->start && (unsigned)g->address + w <= (unsigned)q->start + q->count);
	}
	char *text = malloc(65536);
	CHECK(text != NULL);
	struct sm_buf b;
	sm_buf_init(&b, text, 65536);
	enum sm_err rc = sm_mb_plan_format(map, p, &b);
	CHECK(rc == SM_OK || rc == SM_E_FULL);
	if (rc == SM_OK) {
		size_t lines = 0;
		for (size_t i = 0; i < b.len; i++)
			lines += text[i] == '\n';
		CHECK(lines == p->nreq);
	}
	free(text);
}

static void check_meter(const struct sm_meter_cfg *m)
{
	CHECK(m->name != NULL && valid_name(m->name));
	CHECK(m->proto != NULL && m->proto->name != NULL);
	CHECK(sm_proto_find(m->proto->name) == m->proto);
	CHECK(m->device != NULL && m->device[0] != '\0');
	CHECK(m->line.baud > 0);
	CHECK(m->line.databits >= 5 && m->line.databits <= 8);
	CHECK(m->line.stopbits == 1 || m->line.stopbits == 2);
	CHECK(m->line.parity == SM_PARITY_NONE || m->line.parity == SM_PARITY_EVEN ||
	      m->line.parity == SM_PARITY_ODD);
	CHECK(m->interval_s >= 0 && m->interval_s <= SM_MAX_SECONDS);
	CHECK(m->timeout_s > 0 && m->timeout_s <= SM_MAX_SECONDS);
	CHECK(m->nselect <= SM_MAX_SELECT);
	for (size_t i = 0; i < m->nselect; i++)
		CHECK(m->select[i] != NULL);
	CHECK(!m->has_auth_key || m->has_key);
	for (size_t i = 0; sm_meter_options[i].name != NULL && i < 64; i++)
		if (m->opt_set & (1ull << i))
			CHECK(sm_option_applies(&sm_meter_options[i], m->proto));
	if (m->has_key)
		CHECK(sm_option_applies(sm_option_find("Key"), m->proto));
	if (strcmp(m->proto->name, "iec62056-21") == 0)
		CHECK(m->iec_mode >= 'A' && m->iec_mode <= 'D');
	if (strcmp(m->proto->name, "dlms") == 0)
		CHECK(m->framing == 'm' || m->framing == 'h' || m->framing == 'r');
	if (m->address != NULL)
		CHECK(strlen(m->address) >= 1 && strlen(m->address) <= SM_MAX_ADDRESS_LEN);
	if (is_modbus(m)) {
		CHECK((m->model != NULL) != (m->register_map != NULL));
		CHECK(m->mb_map != NULL && m->mb_plan != NULL);
		if (m->model != NULL)
			CHECK(sm_mb_model_find(m->model) == m->mb_map);
		else
			CHECK(strcmp(m->mb_map->name, m->register_map) == 0);
		CHECK(m->slave >= 0 && m->slave <= 255);
		if (strncmp(m->device, "tcp://", 6) != 0)
			CHECK(m->slave >= 1 && m->slave <= 247);
		CHECK(m->timeout_s >= SM_MIN_MODBUS_TIMEOUT_S && m->timeout_s <= SM_MAX_MODBUS_TIMEOUT_S);
		check_plan(m->mb_map, m->mb_plan);
	} else {
		CHECK(strncmp(m->device, "rtu+tcp://", 10) != 0);
	}
	char line[64];
	sm_line_format(&m->line, line, sizeof line);
	CHECK(line[0] != '\0');
}

static void check_warnings(const char *w, const struct secrets *s)
{
	if (w == NULL)
		return;
	size_t n = strlen(w);
	CHECK(n > 0 && w[n - 1] == '\n');
	check_no_key(s, w);
}

static bool is_iec(const struct sm_meter_cfg *m)
{
	return strcmp(m->proto->name, "iec62056-21") == 0;
}

static bool polled_iec(const struct sm_meter_cfg *m)
{
	return is_iec(m) && m->iec_mode != 'D';
}

static bool is_network(const char *dev)
{
	return strncmp(dev, "tcp://", 6) == 0 || strncmp(dev, "rtu+tcp://", 10) == 0;
}

static void check_ports(const struct sm_config *c, const struct sm_port *ports, size_t nports)
{
	CHECK(nports >= 1 && nports <= c->nmeters);
	size_t total = 0;
	unsigned char *seen = calloc(c->nmeters, 1);
	CHECK(seen != NULL);
	for (size_t i = 0; i < nports; i++) {
		const struct sm_port *p = &ports[i];
		CHECK(p->device != NULL && p->nmeters >= 1 && p->meters != NULL);
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(ports[j].device, p->device) != 0);
		char line[64];
		sm_line_format(&p->line, line, sizeof line);
		for (size_t k = 0; k < p->nmeters; k++) {
			const struct sm_meter_cfg *m = p->meters[k];
			CHECK(m >= c->meters && m < c->meters + c->nmeters);
			size_t idx = (size_t)(m - c->meters);
			CHECK(!seen[idx]);
			seen[idx] = 1;
			CHECK(strcmp(m->device, p->device) == 0);
			if (!(is_modbus(m) && is_network(m->device)))
				CHECK(line_eq(&m->line, &p->line));
			for (size_t j = 0; j < k; j++) {
				const struct sm_meter_cfg *o = p->meters[j];
				CHECK(is_modbus(o) == is_modbus(m));
				if (is_modbus(m))
					CHECK(o->slave != m->slave);
				if (is_iec(m) && is_iec(o))
					CHECK(m->iec_mode != 'D' && o->iec_mode != 'D');
				if (polled_iec(m) && polled_iec(o)) {
					CHECK(m->address != NULL && o->address != NULL);
					CHECK(strcmp(m->address, o->address) != 0);
				}
			}
		}
		total += p->nmeters;
	}
	CHECK(total == c->nmeters);
	free(seen);
}

/* Validation, ports and their checks; frees nothing of c. */
static void validate_and_check(struct sm_config *c, size_t errlen, const struct secrets *s)
{
	char *err = err_alloc(errlen);
	enum sm_err rc = sm_config_validate(c, err, errlen);
	check_warnings(c->warnings, s);
	for (size_t i = 0; i < c->nmeters; i++)
		check_warnings(c->meters[i].warnings, s);
	if (rc != SM_OK) {
		CHECK(rc == SM_E_CONFIG || rc == SM_E_NOMEM);
		check_err(err, errlen, s);
		free(err);
		return;
	}
	free(err);
	CHECK(c->nmeters >= 1);
	for (size_t i = 0; i < c->nmeters; i++)
		check_meter(&c->meters[i]);
	struct sm_port *ports = NULL;
	size_t nports = 0;
	rc = sm_config_ports(c, &ports, &nports);
	CHECK(rc == SM_OK || rc == SM_E_NOMEM);
	if (rc != SM_OK)
		return;
	check_ports(c, ports, nports);
	sm_ports_free(ports, nports);
}

/* ---- the file path ---- */
static void run_file(const uint8_t *data, size_t size, size_t errlen)
{
	struct sm_cfg_node root;
	struct secrets s;
	char *err = err_alloc(errlen);

	memset(&root, 0, sizeof root);
	enum sm_err rc = sm_cfg_parse((const char *)data, size, "fuzz.conf", &root, err, errlen);
	if (rc != SM_OK) {
		CHECK(rc == SM_E_CONFIG || rc == SM_E_NOMEM);
		check_err(err, errlen, NULL);
		check_zeroed(&root);
		free(err);
		return;
	}
	CHECK(root.key == NULL);
	check_node(&root, 0, true);

	secrets_init(&s);
	collect_tree(&s, &root);
	strlist_add(&s.pub, "fuzz.conf");

	CHECK(sm_cfg_find_smartmeter(NULL) == NULL);
	const struct sm_cfg_node *found = sm_cfg_find_smartmeter(&root);
	const struct sm_cfg_node *block = sm_cfg_next_smartmeter(&root, NULL);
	CHECK(found != NULL && found == (block != NULL ? block : &root));
	if (block == NULL)
		block = &root;

	struct sm_config cfg;
	sm_config_init(&cfg);
	bool ok = true;
	do {
		memset(err, 0x5a, errlen);
		rc = sm_config_from_tree(&cfg, block, err, errlen);
		if (rc != SM_OK) {
			CHECK(rc == SM_E_CONFIG || rc == SM_E_NOMEM);
			check_err(err, errlen, &s);
			ok = false;
			break;
		}
	} while (block != &root && (block = sm_cfg_next_smartmeter(&root, block)) != NULL);
	for (size_t i = 0; i < cfg.nmeters; i++)
		check_warnings(cfg.meters[i].warnings, &s);

	sm_cfg_wipe_keys(&root);
	check_wiped(&root);
	if (ok)
		validate_and_check(&cfg, errlen, &s);
	sm_config_free(&cfg);
	sm_cfg_node_free(&root);
	check_zeroed(&root);
	sm_cfg_node_free(NULL);
	secrets_free(&s);
	free(err);
}

/* ---- the flag path ---- */
static char *dup_n(struct secrets *s, const char *p, size_t n)
{
	char *d = malloc(n + 1);
	CHECK(d != NULL);
	memcpy(d, p, n);
	d[n] = '\0';
	char **nv = realloc(s->owned, (s->nowned + 1) * sizeof *nv);
	CHECK(nv != NULL);
	s->owned = nv;
	s->owned[s->nowned++] = d;
	return d;
}

struct flag {
	const char *flag;  /* without dashes for -p/-d: "protocol" */
	const char *value; /* NULL: none */
};

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static void run_flags(const uint8_t *data, size_t size, size_t errlen)
{
	struct secrets s;
	struct flag flags[MAX_FLAG_LINES];
	size_t nflags = 0;
	const char *name = "meter";
	const char *text = (const char *)data;

	secrets_init(&s);
	strlist_add(&s.pub, name);
	for (size_t pos = 0; pos < size && nflags < MAX_FLAG_LINES;) {
		const char *nl = memchr(text + pos, '\n', size - pos);
		size_t end = nl != NULL ? (size_t)(nl - text) : size;
		size_t a = pos, b = end;
		pos = end + 1;
		while (a < b && blank(text[a]))
			a++;
		while (b > a && blank(text[b - 1]))
			b--;
		if (a == b)
			continue;
		size_t f = a;
		while (f < b && !blank(text[f]) && text[f] != '=')
			f++;
		const char *flag = dup_n(&s, text + a, f - a);
		const char *value = NULL;
		if (f < b) {
			size_t v = f + 1;
			if (text[f] != '=')
				while (v < b && blank(text[v]))
					v++;
			value = dup_n(&s, text + v, b - v);
		}
		if (strcmp(flag, "-p") == 0)
			flag = "protocol";
		else if (strcmp(flag, "-d") == 0)
			flag = "device";
		const char *bare = strncmp(flag, "--", 2) == 0 ? flag + 2 : flag;
		if (strcmp(bare, "name") == 0 && value != NULL) {
			name = value;
			strlist_add(&s.pub, value);
			continue;
		}
		strlist_add(&s.pub, flag);
		if (value != NULL)
			strlist_add(strcmp(bare, "key") == 0 || strcmp(bare, "auth-key") == 0 ? &s.keys
												: &s.pub,
				    value);
		flags[nflags].flag = flag;
		flags[nflags].value = value;
		nflags++;
	}
	if (nflags == 0) {
		secrets_free(&s);
		return;
	}

	struct sm_config cfg;
	struct sm_meter_cfg *m = NULL;
	char *err = err_alloc(errlen);
	sm_config_init(&cfg);
	enum sm_err rc = sm_config_add_meter(&cfg, name, &m, err, errlen);
	bool ok = rc == SM_OK;
	if (!ok) {
		CHECK(rc == SM_E_CONFIG || rc == SM_E_NOMEM);
		check_err(err, errlen, &s);
	}
	for (size_t i = 0; ok && i < nflags; i++) {
		memset(err, 0x5a, errlen);
		rc = sm_meter_set_flag(m, flags[i].flag, flags[i].value, err, errlen);
		if (rc != SM_OK) {
			CHECK(rc == SM_E_CONFIG || rc == SM_E_NOMEM);
			check_err(err, errlen, &s);
			ok = false;
		}
		check_warnings(m->warnings, &s);
	}
	free(err);
	if (ok)
		validate_and_check(&cfg, errlen, &s);
	sm_config_free(&cfg);
	secrets_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > MAX_INPUT)
		return 0;
	key_files_once();
	size_t errlen = pick_errlen(data, size);
	run_file(data, size, errlen);
	run_flags(data, size, errlen);
	return 0;
}
