#include <stddef.h>
#include <string.h>
#include "config.h"
#include "proto.h"
#include "dsmr.h"
#include "iec62056_21.h"
#include "mbus.h"
#include "sml.h"
#include "modbus_map.h"

const struct sm_proto *const sm_protocols[] = {
	&sm_proto_dsmr,
	&sm_proto_iec62056_21,
	&sm_proto_dlms,
	&sm_proto_sml,
	&sm_proto_modbus,
	NULL,
};

const struct sm_proto *sm_proto_find(const char *name)
{
	if (name == NULL)
		return NULL;
	for (size_t i = 0; sm_protocols[i] != NULL; i++)
		if (strcasecmp(sm_protocols[i]->name, name) == 0)
			return sm_protocols[i];
	return NULL;
}

const char *sm_proto_names(void)
{
	/* Kept in step with sm_protocols[] by test_format's table check. */
	return "dsmr, iec62056-21, dlms, sml, modbus";
}

bool sm_proto_is_polled(const struct sm_meter_cfg *m)
{
	const struct sm_proto *p = m->proto;
	if (p == NULL || p->poll_start == NULL || p->poll_event == NULL)
		return false;
	return p->is_polled == NULL || p->is_polled(m);
}
