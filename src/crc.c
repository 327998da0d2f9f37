#include "crc.h"

/* Bitwise reflected CRC-16 step; tables would be faster but these run once
 * per frame over a few hundred bytes. */
static uint16_t crc16_reflected(uint16_t crc, uint16_t poly_reflected, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int b = 0; b < 8; b++)
			crc = (crc & 1u) ? (uint16_t)((crc >> 1) ^ poly_reflected) : (uint16_t)(crc >> 1);
	}
	return crc;
}

uint16_t sm_crc16_arc(uint16_t crc, const void *p, size_t n)
{
	return crc16_reflected(crc, 0xA001, p, n);
}

uint16_t sm_crc16_x25(uint16_t crc, const void *p, size_t n)
{
	return (uint16_t)~crc16_reflected((uint16_t)~crc, 0x8408, p, n);
}

uint16_t sm_crc16_kermit(uint16_t crc, const void *p, size_t n)
{
	return crc16_reflected(crc, 0x8408, p, n);
}

uint16_t sm_crc16_modbus(uint16_t crc, const void *p, size_t n)
{
	return crc16_reflected(crc, 0xA001, p, n);
}

uint8_t sm_bcc(uint8_t bcc, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		bcc ^= b[i];
	return bcc;
}

uint8_t sm_mbus_sum(uint8_t sum, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		sum = (uint8_t)(sum + b[i]);
	return sum;
}
