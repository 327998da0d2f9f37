/* modbus_link.c - libmodbus master link (being written; see modbus_link.h). */
#include "modbus_link.h"
