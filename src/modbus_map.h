/*
 * modbus_map.h - Modbus register maps as data, request planning
 * (coalescing) and word decoding/encoding.  Pure: no I/O, no clock, no
 * locks, no logging, no allocation; nothing here includes libmodbus.
 *
 * A register map lists the values of one meter model: where each value
 * lives (function code, 0-based protocol address), how its words are
 * encoded (type, word order), and how the raw number becomes a reading in
 * a base unit (an exact decimal factor, SPEC.md section 6), with its name
 * and, where one fits, its OBIS code.  Built-in maps (models.c) are const
 * tables; user maps (<RegisterMap> blocks) are built by config.c with the
 * same structs and owned by struct sm_config.
 *
 * The planner turns a map into the fewest read requests the model's
 * limits allow (per-request register count, even counts, largest gap):
 * computed once at configuration time, the plan is a value type.
 *
 * Thread-safety: every function is reentrant; maps and plans are read-only
 * after they are built.
 */
#ifndef SM_MODBUS_MAP_H
#define SM_MODBUS_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"
#include "frame.h"
#include "obis.h"
#include "reading.h"

/* Register types (SPEC.md section 4: Type) and how many 16-bit words each takes. */
enum sm_mb_type {
	SM_MB_INT16 = 0, SM_MB_UINT16, SM_MB_INT32, SM_MB_UINT32,
	SM_MB_INT64, SM_MB_UINT64, SM_MB_FLOAT32, SM_MB_FLOAT64,
};
/* Word orders (SPEC.md section 4: WordOrder), named by where the bytes of a
 * big-endian value A B C D (E F G H for 64 bits) appear on the wire:
 *   ABCD  big-endian words, high word first (Modbus's own order)
 *   CDAB  big-endian words, low word first ("word swapped")
 *   BADC  high word first, bytes swapped inside each word
 *   DCBA  little-endian: low word first, bytes swapped
 * For 64-bit types the same rule applies to four words (CDAB: the four
 * words in reverse order).  For 16-bit types only the byte swap matters
 * (BADC and DCBA swap the two bytes; ABCD and CDAB do not). */
enum sm_mb_order { SM_MB_ABCD = 0, SM_MB_CDAB, SM_MB_BADC, SM_MB_DCBA };

#define SM_MB_FC_HOLDING 3   /* read holding registers */
#define SM_MB_FC_INPUT 4     /* read input registers */
#define SM_MB_MAX_COUNT 125  /* Modbus limit on registers per read request */
#define SM_MB_MAX_REGS 256   /* values per map */
#define SM_MB_MAX_REQS 256   /* requests per plan */
#define SM_MB_MAX_WORDS 4096 /* sum of all request counts of a plan */

/* Register flags. */
#define SM_MB_F_INVALID_MAX 1u /* the meter marks "no value" with all bits set
				  (unsigned types and floats) or the largest
				  positive value (signed types): such a value is
				  left out */

struct sm_mb_reg {
	const char *name;        /* reading name, [a-z0-9_]{1,47} by convention
				    ("voltage_l1"); user maps: the <Register> name */
	struct sm_obis obis;     /* the reading's OBIS code; obis.present == 0: none */
	uint8_t function;        /* SM_MB_FC_HOLDING or SM_MB_FC_INPUT */
	uint16_t address;        /* 0-based protocol address of the first word */
	enum sm_mb_type type;
	enum sm_mb_order order;
	/* value in the base unit = decoded number * mul * 10^exp (unit
	 * normalisation included: a float in kWh has exp +3 and unit WH) */
	int64_t mul;             /* nonzero; usually 1 */
	int8_t exp;
	enum sm_unit unit;       /* base unit (SM_UNIT_OTHER: unit_text) */
	char unit_text[SM_UNIT_TEXT];
	unsigned flags;          /* SM_MB_F_* */
};

struct sm_mb_map {
	const char *name;        /* "sdm630", or the <RegisterMap> name */
	const char *description; /* "Eastron SDM630 v2, three-phase": for --help, docs, --plan */
	const char *caveat;      /* NULL, or what is uncertain about this map's facts
				    ("energy scale unverified ..."): shown by --plan and docs */
	uint16_t max_count;      /* registers per request, 1..SM_MB_MAX_COUNT */
	bool even;               /* requests must start at an even address and read
				    an even count (Eastron) */
	uint16_t max_gap;        /* the largest run of unlisted registers a request
				    may read through to save a request;
				    SM_MB_GAP_ANY = no limit besides max_count */
	size_t nregs;            /* 1..SM_MB_MAX_REGS */
	const struct sm_mb_reg *regs;
};
#define SM_MB_GAP_ANY 0xFFFFu

/* Words a type occupies: 1, 2 or 4.  0 for an invalid type. */
unsigned sm_mb_type_words(enum sm_mb_type t);
/* Names for config and messages: "int16".."float64", "ABCD".."DCBA".  Parse
 * case-insensitively; false for anything else. */
const char *sm_mb_type_name(enum sm_mb_type t);
bool sm_mb_type_parse(const char *s, enum sm_mb_type *out);
const char *sm_mb_order_name(enum sm_mb_order o);
bool sm_mb_order_parse(const char *s, enum sm_mb_order *out);

/*
 * Check a map (built-in or user): max_count 1..125 (and even when even is
 * set), 1..SM_MB_MAX_REGS registers, each with a nonempty name shorter than
 * SM_NAME_LEN, function 3 or 4, a valid type/order, mul != 0, a valid unit
 * (unit_text NUL-terminated), words not beyond address 65535, no two
 * registers with the same name, no two registers of the same function whose
 * words overlap, and a register wider than max_count impossible (with even
 * set: a register at an odd address needs its rounded span).  SM_OK, or
 * SM_E_CONFIG with diag saying which register and why (e.g. "register
 * \"voltage_l2\" overlaps \"voltage_l1\" (FC04 0x0001)").
 */
enum sm_err sm_mb_map_check(const struct sm_mb_map *map, struct sm_diag *diag);

/* ---- planning ---- */
struct sm_mb_req {
	uint8_t function;
	uint16_t start;      /* first address read */
	uint16_t count;      /* registers read, 1..max_count */
	uint16_t word_off;   /* where this request's words go in the plan's word buffer */
	uint16_t first;      /* plan.order[first .. first+nregs) are the map's
				registers this request covers */
	uint16_t nregs;
};

struct sm_mb_plan {
	size_t nreq;
	struct sm_mb_req req[SM_MB_MAX_REQS];
	size_t nwords;                    /* sum of all counts */
	size_t nregs;                     /* = map->nregs */
	uint16_t order[SM_MB_MAX_REGS];   /* register indices by (function, address) */
	uint16_t reg_req[SM_MB_MAX_REGS]; /* per map register (by map index): its request */
};

/*
 * Plan the fewest requests that read every register of map: registers of
 * one function sorted by address are covered left to right, each request
 * extended over following registers (and gaps up to max_gap) while its
 * count stays within max_count; with even set, starts are rounded down and
 * counts up to even numbers.  Greedy covering from the left is optimal for
 * this problem, so no plan with fewer requests exists under these limits.
 * Requests are ordered by function, then address; each reads exactly the
 * span it covers (no padding beyond its last register except the even
 * rule).  SM_OK, or SM_E_CONFIG (map invalid, diag says why; the map is
 * checked with sm_mb_map_check first), SM_E_FULL (more than SM_MB_MAX_REQS
 * requests or SM_MB_MAX_WORDS words).
 */
enum sm_err sm_mb_plan_make(const struct sm_mb_map *map, struct sm_mb_plan *out, struct sm_diag *diag);

/*
 * The plan as text for `smartmeter read --plan` and the debug log: one line
 * per request, "FC04 0x0000 +80: voltage_l1 voltage_l2 ... (40 values)",
 * lines ending in '\n', preceded by nothing (the caller prints the meter).
 * SM_OK or SM_E_FULL when b ran out (b keeps what fit).
 */
enum sm_err sm_mb_plan_format(const struct sm_mb_map *map, const struct sm_mb_plan *plan, struct sm_buf *b);

/* ---- values ---- */
/*
 * Decode one register's words (sm_mb_type_words(reg->type) of them, as
 * read: w[0] is the word at reg->address) into an exact decimal in the base
 * unit: *raw * 10^*scale.  Integers are exact; floats take the shortest
 * decimal that reads back as the same float (float32 230.1f -> 2301e-1;
 * computed exactly, without floating-point arithmetic; of two candidates of
 * that length the nearer), then the register's factor (mul, exp) is applied
 * exactly.  Only trailing zeros are ever dropped; a positive exponent is
 * moved into raw while it fits (as sm_decimal_rescale does: 12.5 kWh as a
 * float with exp +3 gives 12500e0).  -0.0 gives 0.
 * SM_OK; SM_E_EMPTY when the value is the meter's "no value" marker
 * (SM_MB_F_INVALID_MAX); SM_E_RANGE for NaN, infinities, or a result that
 * does not fit int64 * 10^int8.
 */
enum sm_err sm_mb_value_decode(const struct sm_mb_reg *reg, const uint16_t *w, int64_t *raw, int8_t *scale);

/*
 * The inverse, for simulators and tests: the words that hold the value
 * raw * 10^scale (base unit) in this register.  SM_OK; SM_E_RANGE when the
 * value cannot be represented exactly (an integer register and a value that
 * is not a whole multiple of the register's factor, or out of the type's
 * range, or the meter's "no value" marker of an SM_MB_F_INVALID_MAX
 * register; for floats: the decoded value would differ from raw*10^scale).
 */
enum sm_err sm_mb_value_encode(const struct sm_mb_reg *reg, int64_t raw, int8_t scale, uint16_t *w);

/*
 * Turn the words of one poll into readings: words[] is the plan's word
 * buffer (request i's words at req[i].word_off), ok[i] says whether
 * request i was answered (registers of unanswered requests are left out;
 * ok NULL: every request was).  bad may be NULL.
 * Readings are appended in map order with sm_set_add_named (name, OBIS when
 * present, unit) and have no time of their own; the set is finished
 * (sm_set_finish) and cleared first.  *bad counts registers left out for
 * SM_E_RANGE (invalid floats, overflow); "no value" markers are left out
 * without counting.  Returns SM_READINGS when the set holds at least one
 * reading, SM_E_EMPTY when none.
 */
enum sm_err sm_mb_decode(const struct sm_mb_map *map, const struct sm_mb_plan *plan, const uint16_t *words,
			 const bool *ok, struct sm_reading_set *out, unsigned *bad);

/* Text of a Modbus exception code: 1 "illegal function", 2 "illegal data
 * address", 3 "illegal data value", 4 "slave device failure", 5
 * "acknowledge", 6 "slave device busy", 8 "memory parity error", 10
 * "gateway path unavailable", 11 "gateway target failed to respond";
 * "unknown exception" otherwise.  Pure. */
const char *sm_mb_exception_str(int code);

/* Baud rates an RTU line may use (those libmodbus 3.1.6 supports: it would
 * silently use 9600 for any other).  Pure. */
bool sm_mb_baud_ok(int baud);

/* The protocol table entry "modbus" (proto_modbus.c, proto.h). */
struct sm_proto;
extern const struct sm_proto sm_proto_modbus;

/* ---- built-in models (models.c) ---- */
/* NULL-terminated table of the built-in maps (SPEC.md section 4: sdm630,
 * sdm120, sdm72, acuvim2, acuvim-l, em24, em340, abb-b23, iem3000,
 * janitza-b23, ...). */
extern const struct sm_mb_map *const sm_mb_models[];
/* A built-in map by name (case-insensitive), or NULL. */
const struct sm_mb_map *sm_mb_model_find(const char *name);
/* "sdm630, sdm120, ...": the names for messages (static storage). */
const char *sm_mb_model_names(void);

#endif
