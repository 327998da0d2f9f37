/*
 * smartmeter.c - the collectd 5 plugin: collectd's config tree -> our config
 * structs (validated in the config callback, nothing started there), one
 * reader thread per Device started in init with plugin_thread_create,
 * values dispatched from the reader threads (plugin_dispatch_values is
 * thread-safe), health counters dispatched by a read callback, readers
 * stopped and joined in shutdown.  The only file that includes collectd's
 * headers.
 *
 * collectd's init and shutdown callbacks take no user data, so the plugin's
 * state hangs off one static pointer: set by the config callback, used by
 * init/read/shutdown, which collectd calls from one thread at a time for
 * config/init/shutdown (read callbacks only between init and shutdown).
 */
#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/plugin.h"
#include "collectd/core/utils/common/common.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "reader.h"
#include "version.h"

#define PLUGIN "smartmeter"

/* Per meter, touched only by the meter's reader thread: the last time each
 * reading with its own meter time (an hourly gas value, a monthly peak) was
 * dispatched, so that a value repeated in every telegram is dispatched once
 * per new timestamp (collectd would log "Value too old" for every repeat). */
struct sm_seen {
	uint32_t name_hash[SM_MAX_READINGS];
	cdtime_t time[SM_MAX_READINGS];
	size_t n;
};

struct sm_plugin {
	struct sm_config cfg;
	struct sm_seen *seen;      /* one per meter, indexed like cfg.meters */
	char error[1024];          /* first configuration error, reported by init */
	struct sm_port *ports;
	size_t nports;
	struct sm_reader **readers;
};

static struct sm_plugin *plugin_state;

/* ---- config: collectd's tree -> struct sm_cfg_node ---- */
static int copy_node(const oconfig_item_t *ci, struct sm_cfg_node *out)
{
	memset(out, 0, sizeof *out);
	out->key = strdup(ci->key ? ci->key : "");
	out->block = ci->children_num > 0;
	if (out->key == NULL)
		return -1;
	if (ci->values_num > 0) {
		out->values = calloc((size_t)ci->values_num, sizeof *out->values);
		if (out->values == NULL)
			return -1;
	}
	for (int i = 0; i < ci->values_num; i++) {
		const oconfig_value_t *v = &ci->values[i];
		struct sm_cfg_value *o = &out->values[i];
		out->nvalues++;
		switch (v->type) {
		case OCONFIG_TYPE_STRING:
			o->type = SM_CV_STRING;
			o->s = strdup(v->value.string);
			if (o->s == NULL)
				return -1;
			break;
		case OCONFIG_TYPE_NUMBER:
			o->type = SM_CV_NUMBER;
			o->num = v->value.number;
			break;
		case OCONFIG_TYPE_BOOLEAN:
			o->type = SM_CV_BOOL;
			o->b = v->value.boolean != 0;
			break;
		}
	}
	if (ci->children_num > 0) {
		out->children = calloc((size_t)ci->children_num, sizeof *out->children);
		if (out->children == NULL)
			return -1;
	}
	for (int i = 0; i < ci->children_num; i++) {
		out->nchildren++;
		if (copy_node(&ci->children[i], &out->children[i]) != 0)
			return -1;
	}
	return 0;
}

static int sm_plugin_config(oconfig_item_t *ci)
{
	struct sm_cfg_node tree;
	char err[sizeof plugin_state->error];

	if (plugin_state == NULL) {
		plugin_state = calloc(1, sizeof *plugin_state);
		if (plugin_state == NULL)
			return -1;
		sm_config_init(&plugin_state->cfg);
	}
	/* An invalid configuration must fail init with its message (SPEC.md
	 * section 4), not stop the daemon: remember the first error. */
	if (copy_node(ci, &tree) != 0) {
		sm_cfg_node_free(&tree);
		snprintf(plugin_state->error, sizeof plugin_state->error, "out of memory reading the configuration");
		return 0;
	}
	if (plugin_state->error[0] == '\0' &&
	    sm_config_from_tree(&plugin_state->cfg, &tree, err, sizeof err) != SM_OK)
		snprintf(plugin_state->error, sizeof plugin_state->error, "%s", err);
	sm_cfg_wipe_keys(&tree); /* the copy held Key/AuthKey texts */
	sm_cfg_node_free(&tree);
	return 0;
}

/* ---- dispatch ---- */
static void sm_plugin_log(void *ctx, enum sm_log_level level, const char *msg)
{
	(void)ctx;
	plugin_log((int)level, PLUGIN " plugin: %s", msg);
}

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

/* True when the reading (with its own time t) was already dispatched at t. */
static bool seen_before(struct sm_seen *seen, const char *name, cdtime_t t)
{
	uint32_t h = name_hash(name);
	for (size_t i = 0; i < seen->n; i++) {
		if (seen->name_hash[i] == h) {
			if (t <= seen->time[i])
				return true;
			seen->time[i] = t;
			return false;
		}
	}
	if (seen->n < SM_MAX_READINGS) {
		seen->name_hash[seen->n] = h;
		seen->time[seen->n++] = t;
	}
	return false;
}

static void sm_plugin_emit(void *ctx, const struct sm_meter_cfg *m, const struct sm_reading_set *s,
			   int64_t rx_ms, double interval_s)
{
	struct sm_plugin *p = ctx;
	struct sm_seen *seen = &p->seen[m - p->cfg.meters];
	for (size_t i = 0; i < s->n; i++) {
		const struct sm_reading *r = &s->r[i];
		const char *type = sm_kind_collectd_type(r->kind);
		char obis[SM_OBIS_STRLEN];
		if (r->is_text || type == NULL)
			continue; /* text readings are never dispatched as numbers */
		value_list_t vl = VALUE_LIST_INIT;
		value_t v = { .gauge = sm_decimal_to_double(r->raw, r->scale) };
		vl.values = &v;
		vl.values_len = 1;
		int64_t t_ms = sm_reading_time(s, r, rx_ms, SM_TIME_WINDOW_MS);
		vl.time = MS_TO_CDTIME_T((uint64_t)t_ms);
		if (r->time_ms != 0 && r->time_ms == t_ms && seen_before(seen, r->name, vl.time))
			continue;
		if (interval_s > 0)
			vl.interval = DOUBLE_TO_CDTIME_T(interval_s);
		sstrncpy(vl.plugin, PLUGIN, sizeof vl.plugin);
		sstrncpy(vl.plugin_instance, m->name, sizeof vl.plugin_instance);
		sstrncpy(vl.type, type, sizeof vl.type);
		sstrncpy(vl.type_instance, r->name, sizeof vl.type_instance);
		sm_obis_format(&r->obis, obis, sizeof obis);
		vl.meta = meta_data_create();
		if (vl.meta != NULL) {
			if (obis[0] != '\0') /* Modbus registers may have no code */
				meta_data_add_string(vl.meta, "obis", obis);
			meta_data_add_string(vl.meta, "unit",
					     r->unit == SM_UNIT_OTHER ? r->unit_text : sm_unit_str(r->unit));
		}
		plugin_dispatch_values(&vl);
		meta_data_destroy(vl.meta);
	}
}

static int start_thread(pthread_t *tid, void *(*fn)(void *), void *arg, const char *name)
{
	return plugin_thread_create(tid, fn, arg, name);
}

/* ---- lifecycle ---- */
static void sm_plugin_stop(struct sm_plugin *p)
{
	for (size_t i = 0; p->readers && i < p->nports; i++)
		if (p->readers[i])
			sm_reader_stop(p->readers[i]);
	for (size_t i = 0; p->readers && i < p->nports; i++)
		if (p->readers[i]) {
			sm_reader_join(p->readers[i]);
			sm_reader_destroy(p->readers[i]);
			p->readers[i] = NULL;
		}
	free(p->readers);
	p->readers = NULL;
	free(p->seen);
	p->seen = NULL;
	if (p->ports)
		sm_ports_free(p->ports, p->nports);
	p->ports = NULL;
	p->nports = 0;
}

static int sm_plugin_init(void)
{
	struct sm_plugin *p = plugin_state;
	char err[sizeof p->error];

	if (p == NULL) {
		WARNING(PLUGIN " plugin: loaded without a <Plugin smartmeter> block: no meters to read");
		return 0;
	}
	if (p->readers != NULL)
		return 0; /* init runs once; be safe if called again */
	if (p->error[0] == '\0' && sm_config_validate(&p->cfg, err, sizeof err) != SM_OK)
		snprintf(p->error, sizeof p->error, "%s", err);
	/* Warnings of the configuration (a KeyFile readable by others), one
	 * log line each. */
	for (const char *w = p->cfg.warnings; w != NULL && *w != '\0';) {
		const char *nl = strchr(w, '\n');
		int len = nl ? (int)(nl - w) : (int)strlen(w);
		WARNING(PLUGIN " plugin: %.*s", len, w);
		w = nl ? nl + 1 : w + len;
	}
	if (p->error[0] != '\0') {
		ERROR(PLUGIN " plugin: %s", p->error);
		ERROR(PLUGIN " plugin: invalid configuration: no meter is read");
		return -1;
	}
	if (sm_config_ports(&p->cfg, &p->ports, &p->nports) != SM_OK ||
	    (p->seen = calloc(p->cfg.nmeters, sizeof *p->seen)) == NULL ||
	    (p->readers = calloc(p->nports, sizeof *p->readers)) == NULL) {
		ERROR(PLUGIN " plugin: out of memory");
		return -1;
	}
	struct sm_sink sink = { .emit = sm_plugin_emit, .ctx = p };
	struct sm_log log = { .fn = sm_plugin_log, .ctx = p };
	struct sm_reader_opts opts = { .trigger_mode = false, .exit_at_eof = false, .start = start_thread };
	for (size_t i = 0; i < p->nports; i++) {
		if (sm_reader_create(&p->ports[i], &sink, &log, &opts, &p->readers[i]) != SM_OK ||
		    sm_reader_start(p->readers[i]) != SM_OK) {
			ERROR(PLUGIN " plugin: cannot start the reader of %s", p->ports[i].device);
			sm_plugin_stop(p);
			return -1;
		}
		char line[32];
		sm_line_format(&p->ports[i].line, line, sizeof line);
		for (size_t k = 0; k < p->ports[i].nmeters; k++)
			INFO(PLUGIN " plugin: meter \"%s\": %s on %s (%s)", p->ports[i].meters[k]->name,
			     p->ports[i].meters[k]->proto->name, p->ports[i].device, line);
	}
	INFO(PLUGIN " plugin %s: %zu meter(s) on %zu port(s)", sm_version(), p->cfg.nmeters, p->nports);
	return 0;
}

static void dispatch_counter(const char *meter, const char *type, const char *instance, uint64_t v)
{
	value_list_t vl = VALUE_LIST_INIT;
	value_t val = { .derive = (derive_t)v };
	vl.values = &val;
	vl.values_len = 1;
	sstrncpy(vl.plugin, PLUGIN, sizeof vl.plugin);
	sstrncpy(vl.plugin_instance, meter, sizeof vl.plugin_instance);
	sstrncpy(vl.type, type, sizeof vl.type);
	sstrncpy(vl.type_instance, instance, sizeof vl.type_instance);
	plugin_dispatch_values(&vl);
}

/* Reader health, per meter (SPEC.md section 5). */
static int sm_plugin_read(void)
{
	struct sm_plugin *p = plugin_state;
	if (p == NULL || p->readers == NULL)
		return 0;
	for (size_t i = 0; i < p->nports; i++) {
		if (p->readers[i] == NULL)
			continue;
		for (size_t k = 0; k < sm_reader_nmeters(p->readers[i]); k++) {
			const struct sm_meter_cfg *m = sm_reader_meter(p->readers[i], k);
			struct sm_stats st;
			sm_reader_stats(p->readers[i], k, &st);
			dispatch_counter(m->name, "total_operations", "frames", st.frames);
			dispatch_counter(m->name, "errors", "crc", st.crc);
			dispatch_counter(m->name, "errors", "decode", st.decode);
			dispatch_counter(m->name, "errors", "auth", st.auth);
			dispatch_counter(m->name, "errors", "timeout", st.timeout);
			dispatch_counter(m->name, "errors", "reconnect", st.reconnect);
			dispatch_counter(m->name, "errors", "unchecked", st.unchecked);
			if (m->proto != NULL && m->proto->modbus_link)
				dispatch_counter(m->name, "errors", "exception", st.exception);
			dispatch_counter(m->name, "total_operations", "unauthenticated", st.unauthenticated);
			dispatch_counter(m->name, "total_operations", "crc_fallback", st.crc_fallback);
		}
	}
	return 0;
}

static int sm_plugin_shutdown(void)
{
	struct sm_plugin *p = plugin_state;
	if (p == NULL)
		return 0;
	sm_plugin_stop(p);
	sm_config_free(&p->cfg);
	free(p);
	plugin_state = NULL;
	return 0;
}

void module_register(void)
{
	plugin_register_complex_config(PLUGIN, sm_plugin_config);
	plugin_register_init(PLUGIN, sm_plugin_init);
	plugin_register_read(PLUGIN, sm_plugin_read);
	plugin_register_shutdown(PLUGIN, sm_plugin_shutdown);
}
