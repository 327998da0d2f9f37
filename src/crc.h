/*
 * crc.h - the checksums of the meter protocols.  Pure functions, thread-safe.
 * Each takes the running value so data can be checksummed in pieces:
 *   crc = sm_crc16_arc(0, a, na); crc = sm_crc16_arc(crc, b, nb);
 */
#ifndef SM_CRC_H
#define SM_CRC_H

#include <stddef.h>
#include <stdint.h>

/* CRC-16/ARC: poly 0x8005 reflected, init 0x0000, no final xor (DSMR P1).
 * Start with crc = 0. check("123456789") = 0xBB3D */
uint16_t sm_crc16_arc(uint16_t crc, const void *p, size_t n);
/* CRC-16/X-25: poly 0x1021 reflected, init 0xFFFF, final xor 0xFFFF (SML, HDLC).
 * Start with crc = 0 (the init/xor are handled inside). check = 0x906E */
uint16_t sm_crc16_x25(uint16_t crc, const void *p, size_t n);
/* CRC-16/KERMIT: poly 0x1021 reflected, init 0, no xor (some SML meters).
 * Start with crc = 0. check = 0x2189 */
uint16_t sm_crc16_kermit(uint16_t crc, const void *p, size_t n);
/* CRC-16/MODBUS: poly 0x8005 reflected, init 0xFFFF, no xor.
 * Start with crc = 0xFFFF. check = 0x4B37 */
uint16_t sm_crc16_modbus(uint16_t crc, const void *p, size_t n);
/* IEC 62056-21 BCC: XOR of all bytes. Start with 0. */
uint8_t sm_bcc(uint8_t bcc, const void *p, size_t n);
/* M-Bus checksum: arithmetic sum mod 256. Start with 0. */
uint8_t sm_mbus_sum(uint8_t sum, const void *p, size_t n);

#endif
