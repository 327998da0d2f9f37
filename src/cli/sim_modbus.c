/* sim_modbus.c - `smartmeter simulate -p modbus` (being written). */
#include "sim.h"
