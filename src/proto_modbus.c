/* proto_modbus.c - Protocol "modbus" (being written). */
#include "modbus_map.h"
