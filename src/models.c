/* models.c - the built-in register maps (see modbus_map.h).  (Being written.) */
#include "modbus_map.h"
