/* modbus_map.c - register maps, planning, word decoding (see modbus_map.h).
 * (Being written.) */
#include "modbus_map.h"
