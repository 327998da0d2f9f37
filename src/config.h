/*
 * config.h - meter configuration: the structs both front ends fill, the one
 * option table, the one validator, and a parser for collectd's config syntax
 * (used by the smartmeter program; the plugin gets collectd's own tree and
 * converts it to struct sm_cfg_node).
 *
 * Ownership: struct sm_config owns its meters and every string in them;
 * sm_config_free() releases everything.  struct sm_cfg_node trees are owned
 * by whoever built them and freed with sm_cfg_node_free().  Not thread-safe;
 * configuration happens before any reader starts and is read-only after.
 *
 * Errors: every function that can fail writes one line into err (naming the
 * meter and the option and saying what is expected, e.g.
 *   meter "home": Baudrate: expected one of 300, 600, ..., 921600, got 12345)
 * and returns SM_E_CONFIG (or SM_E_NOMEM).
 */
#ifndef SM_CONFIG_H
#define SM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include "err.h"
#include "obis.h"
#include "modbus_map.h"
#include "proto.h"

/* ---- generic tree (collectd's oconfig shape) ---- */
enum sm_cv_type { SM_CV_STRING, SM_CV_NUMBER, SM_CV_BOOL };
struct sm_cfg_value {
	enum sm_cv_type type;
	char *s;      /* STRING (owned) */
	double num;   /* NUMBER */
	bool b;       /* BOOL */
};
struct sm_cfg_node {
	char *key;                   /* owned */
	struct sm_cfg_value *values; /* owned array */
	size_t nvalues;
	struct sm_cfg_node *children; /* owned array */
	size_t nchildren;
	int line;                    /* source line, 0 if unknown */
	bool block;                  /* written as <key values...> ... </key> (a
					block with no children is still a block;
					converters that cannot tell set it when
					nchildren > 0) */
};
void sm_cfg_node_free(struct sm_cfg_node *n); /* frees children and values, not n itself;
						 leaves *n zeroed; n may be NULL */
/* Overwrite (sm_wipe) the values of every Key and AuthKey option in the
 * tree n, recursively: call it before sm_cfg_node_free once the meters are
 * read, so no copy of a key outlives the configuration step (the text the
 * tree was parsed from should be wiped by its owner as well).  The strings
 * stay allocated (now empty).  n may be NULL. */
void sm_cfg_wipe_keys(struct sm_cfg_node *n);

/*
 * Parse collectd.conf syntax (Key value... lines, <Block "arg"> ... </Block>,
 * '#' comments, quoted strings with \" and \\, numbers incl. 0x hex, true/
 * false/yes/no/on/off booleans, unquoted [A-Za-z0-9_]+ words as strings,
 * trailing '\' line continuation).  *root gets a synthetic node (key NULL)
 * whose children are the top-level items.  Errors name the file and line.
 *
 * Details: text[0..n) need not be NUL-terminated and is never read beyond n.
 * Booleans are matched case-insensitively.  Inside quotes a backslash takes
 * the next character literally (as collectd does: "\q" is "q"), and a
 * backslash at the end of a line continues the string on the next line,
 * whose leading blanks are dropped (collectd's multi-line strings); a bare
 * line end inside quotes is an error.  Unquoted dotted IPv4 addresses (with an
 * optional :port) are strings, as in collectd.  Block names are matched
 * case-insensitively against their </closing> tag.  Limits: n at most
 * SM_CFG_MAX_TEXT bytes, blocks nested at most SM_CFG_MAX_DEPTH deep.
 * filename may be NULL ("config" is used in messages).
 * Returns SM_OK (caller frees *root with sm_cfg_node_free), SM_E_CONFIG
 * (syntax error or limit; *root is left empty, nothing to free) or
 * SM_E_NOMEM (likewise).
 */
#define SM_CFG_MAX_TEXT (1024u * 1024u)
#define SM_CFG_MAX_DEPTH 16
enum sm_err sm_cfg_parse(const char *text, size_t n, const char *filename,
			 struct sm_cfg_node *root, char *err, size_t errlen);

/*
 * The node holding the meters of a parsed file: the first top-level
 * <Plugin smartmeter> block (name matched case-insensitively) when there is
 * one, else root itself (a file of bare <Meter> blocks).  Borrowed from
 * root.  NULL only when root is NULL.
 */
const struct sm_cfg_node *sm_cfg_find_smartmeter(const struct sm_cfg_node *root);
/* The top-level <Plugin smartmeter> block after prev (NULL: the first one),
 * or NULL when there is none: collectd hands every such block to the plugin,
 * and a file read by the program may hold several as well. */
const struct sm_cfg_node *sm_cfg_next_smartmeter(const struct sm_cfg_node *root,
						 const struct sm_cfg_node *prev);

/*
 * A number as the parser reads it: the whole of p[0..n) must be [+-] then
 * digits with an optional fraction and exponent ("5", "-0.25", ".5", "1e3",
 * "2.5E-3") or [+-]0x followed by 1..16 hex digits.  No blanks.  True and
 * *out set on success; false for anything else or a non-finite result.
 */
bool sm_cfg_parse_number(const char *p, size_t n, double *out);

/* ---- meters ---- */
#define SM_MAX_SELECT 32
#define SM_LINE_BAUD 1u
#define SM_LINE_DATABITS 2u
#define SM_LINE_PARITY 4u
#define SM_LINE_STOPBITS 8u

struct sm_meter_cfg {
	char *name;                  /* <Meter "name">, [A-Za-z0-9_.-]{1,63} */
	const struct sm_proto *proto;/* Protocol (required) */
	char *device;                /* Device (required) */
	struct sm_line line;         /* effective line settings (after validate) */
	unsigned line_set;           /* SM_LINE_* bits given explicitly */
	double interval_s;           /* Interval; 0 = every frame (push) */
	double timeout_s;            /* Timeout; default SM_DEFAULT_TIMEOUT_S */
	bool ignore_checksum;        /* IgnoreChecksum */
	size_t nselect;              /* Select: names or OBIS codes */
	char *select[SM_MAX_SELECT];
	struct sm_obis select_obis[SM_MAX_SELECT]; /* parsed when the entry is an OBIS code */
	bool select_is_obis[SM_MAX_SELECT];
	/* IEC 62056-21 (Protocol "iec62056-21") */
	char iec_mode;               /* Mode: 'A', 'B', 'C' (default) or 'D' (push) */
	char *address;               /* Address: device address for "/?ADDR!", NULL = none;
					[0-9A-Za-z ] up to 32 characters */
	int max_baud;                /* MaxBaudrate: cap for the speed the meter offers
					(default 0 = no cap beyond 19200) */
	double baud_switch_delay_s;  /* BaudSwitchDelay: pause after the ACK before
					switching speed (default 0.3 s) */
	bool wakeup;                 /* WakeUp: send NUL bytes before the sign-on
					(default false) */
	/* encryption (Protocol "dlms", and "dsmr" for Luxembourg Smarty).
	 * Key and KeyFile are alternatives; AuthKey needs one of them.  No
	 * message (error or warning) ever contains key material. */
	bool has_key;                /* Key or KeyFile given */
	uint8_t key[16];             /* AES-128 key (GUEK); wiped by sm_config_free */
	bool has_auth_key;           /* AuthKey given */
	uint8_t auth_key[16];        /* wiped by sm_config_free */
	char *key_file;              /* KeyFile path (the key itself is in key[]): the
					file is read when the option is set */
	/* dlms */
	char framing;                /* Framing: 'm' mbus (default), 'h' hdlc, 'r' raw */
	/* modbus (Protocol "modbus") */
	int slave;                   /* Slave: unit id, 1..247 (Modbus TCP, tcp://,
					also 0 and 255); default 1 */
	char *model;                 /* Model: a built-in map (sm_mb_model_find), or NULL */
	char *register_map;          /* RegisterMap: the name of a <RegisterMap> block, or NULL
					(exactly one of Model and RegisterMap is required) */
	const struct sm_mb_map *mb_map; /* set by sm_config_validate: the model's map or
					   the user map (borrowed from sm_config.maps) */
	struct sm_mb_plan *mb_plan;  /* owned, made by sm_config_validate from mb_map
					(sm_mb_plan_make): computed once, shown by
					`read --plan` */
	char *warnings;              /* owned, NULL or '\n'-terminated lines: what the
					setters found worth a warning (a KeyFile readable
					by group or others); sm_config_validate gathers
					them into sm_config.warnings */
	unsigned long long opt_set;  /* bit i: sm_meter_options[i] was given
					(an option other than Select may be
					given only once) */
};
#define SM_DEFAULT_TIMEOUT_S 30.0
/* A polled meter (sm_proto_is_polled) without Interval, or with Interval 0,
 * is polled every SM_DEFAULT_POLL_S seconds (the reader applies it; the
 * config keeps interval_s as given). */
#define SM_DEFAULT_POLL_S 60.0
/* IEC 62056-21 defaults and limits (Mode, BaudSwitchDelay, Address). */
#define SM_DEFAULT_IEC_MODE 'C'
#define SM_DEFAULT_BAUD_SWITCH_DELAY_S 0.3
#define SM_MAX_BAUD_SWITCH_DELAY_S 5.0
#define SM_MAX_ADDRESS_LEN 32
#define SM_DEFAULT_FRAMING 'm'
/* Modbus: Timeout is the response timeout of one request (default and
 * range); Interval defaults to the protocol's poll_default_s (10 s). */
#define SM_DEFAULT_MODBUS_TIMEOUT_S 0.5
#define SM_MIN_MODBUS_TIMEOUT_S 0.01
#define SM_MAX_MODBUS_TIMEOUT_S 10.0
#define SM_DEFAULT_SLAVE 1

/* A <RegisterMap "name"> block: a user-defined map (SPEC.md section 4),
 * owned by struct sm_config.  map.name, map.regs and every register's name
 * point into the owned fields; map stays at the same address until
 * sm_config_free (meters borrow it). */
struct sm_user_map {
	struct sm_mb_map map;
	char *name;               /* owned */
	struct sm_mb_reg *regs;   /* owned array of map.nregs */
	char **reg_names;         /* owned array of owned names */
	char *description;        /* owned, NULL when the block has no Description
				     (map.description is then a fixed text) */
	int line;                 /* of the block, 0 if unknown */
};

struct sm_config {
	size_t nmeters;
	struct sm_meter_cfg *meters; /* owned array */
	/* Warnings for the front ends (owned; NULL when there are none): lines
	 * each ending in '\n', each naming the meter and the option like an
	 * error ("meter "home": KeyFile: ..." or "--key-file: ..."), filled by
	 * sm_config_validate.  The plugin logs each line with WARNING, the
	 * program prints each with "W! "; valid configurations may have some. */
	char *warnings;
	/* <RegisterMap> blocks, in the order given (owned, each allocated on
	 * its own so meters may point at it). */
	size_t nmaps;
	struct sm_user_map **maps;
};

/* A device and the meters that share it (one reader thread). */
struct sm_port {
	const char *device;               /* borrowed from the first meter */
	struct sm_line line;
	size_t nmeters;
	const struct sm_meter_cfg **meters; /* owned array of borrowed pointers */
};

void sm_config_init(struct sm_config *c);
/* Frees everything; keys are wiped (sm_wipe) first. */
void sm_config_free(struct sm_config *c);

/* Add an empty meter named name (name validated, duplicates rejected).
 * *out points into c->meters and stays valid until the next add or free.
 * SM_OK, SM_E_CONFIG (bad or duplicate name) or SM_E_NOMEM. */
enum sm_err sm_config_add_meter(struct sm_config *c, const char *name,
				struct sm_meter_cfg **out, char *err, size_t errlen);

/*
 * Set one <Meter> option by its config name (case-insensitive, as collectd
 * does): Protocol Device Baudrate Parity DataBits StopBits Interval Timeout
 * Select IgnoreChecksum, for Protocol "iec62056-21" Mode Address
 * MaxBaudrate BaudSwitchDelay WakeUp, for Protocols "dlms" and "dsmr" Key
 * KeyFile AuthKey, for Protocol "dlms" Framing, for Protocol "modbus" Slave
 * Model RegisterMap.  Values are checked for type and range
 * here; an unknown option is an error that lists the known ones.  Whether an
 * option applies to the meter's protocol is checked by sm_config_validate
 * (the Protocol may come after the option in a block).
 */
enum sm_err sm_meter_set(struct sm_meter_cfg *m, const char *option,
			 const struct sm_cfg_value *vals, size_t nvals, char *err, size_t errlen);
/*
 * Details of sm_meter_set: every option but Select takes exactly one value
 * and may be given once; Select takes one or more values and may repeat (at
 * most SM_MAX_SELECT entries in all).  Numbers must be NUMBER values
 * (integral where the option counts something); IgnoreChecksum takes a
 * BOOL or one of the strings true/false/yes/no/on/off.  Interval and
 * Timeout are at most SM_MAX_SECONDS.  Device accepts a serial port path,
 * tcp://HOST:PORT (port 1..65535), rtu+tcp://HOST:PORT (the same checks) or
 * file:PATH; other "scheme://" prefixes are rejected.  Slave is an integral
 * 0..255 (the validator narrows it to 1..247 unless the Device is tcp://).
 * Model is a built-in model's name (any case; stored as the model names
 * itself, e.g. "sdm630").  RegisterMap is a map name as for <RegisterMap>
 * (1 to 63 characters of A-Z a-z 0-9 _ . -), resolved by the validator.  Mode is one letter A, B, C or D (any case; stored upper
 * case).  Address is a STRING of 1..SM_MAX_ADDRESS_LEN characters of
 * [0-9A-Za-z ] (a NUMBER is refused: quote it, leading zeros matter).
 * MaxBaudrate is one of 300 600 1200 2400 4800 9600 19200.  BaudSwitchDelay
 * is 0..SM_MAX_BAUD_SWITCH_DELAY_S seconds.  WakeUp is a boolean as
 * IgnoreChecksum.  Key and AuthKey are STRINGs of 32 hex digits (blanks
 * around them allowed; a NUMBER is refused: quote it); an error says how
 * many characters were given and how many are not hex digits, never which
 * (e.g. meter "x": Key: expected 32 hex digits (an AES-128 key), got 31
 * characters).  KeyFile is the path of a regular file of at most 4096 bytes
 * holding 32 hex digits (blanks around them allowed); it is read here, the
 * key goes into key[], and a file readable by group or others adds a line
 * to m->warnings.  Key and KeyFile exclude each other (an error names the
 * other).  Framing is "mbus", "hdlc" or "raw" (any case).  On error m is
 * unchanged.  SM_OK, SM_E_CONFIG or SM_E_NOMEM.
 */
#define SM_MAX_SECONDS 86400.0

/*
 * The same for a command line flag: flag is the option's flag name without
 * the leading dashes ("max-baudrate"; a leading "--" is tolerated), value
 * the flag's text.  The text is converted to the option's type: numbers
 * strictly (sm_cfg_parse_number: the whole text), booleans from true/false/
 * yes/no/on/off/1/0 (a BOOL flag may have value NULL, meaning true), a LIST
 * flag (Select) takes comma-separated entries.  Errors name the flag
 * ("--baudrate: expected one of 300, ..., got 12345").  SM_OK, SM_E_CONFIG
 * or SM_E_NOMEM.
 */
enum sm_err sm_meter_set_flag(struct sm_meter_cfg *m, const char *flag, const char *value,
			      char *err, size_t errlen);

/*
 * Read a <Plugin smartmeter> block (or any node whose children are <Meter>
 * blocks and options): every <Meter "name"> child becomes a meter through
 * sm_meter_set.  Unknown blocks and options are errors.  Does not validate
 * across meters: call sm_config_validate afterwards.
 *
 * <RegisterMap "name"> blocks (SPEC.md section 4) become c->maps: options
 * MaxRegisters (1..125, default 125), EvenCount (boolean, default false),
 * MaxGap (0..125 registers, default: no limit), Description (string), and
 * <Register "name"> blocks with Address (0..65535, required), Function (3
 * or 4, default 3), Type (default "uint16"), WordOrder (default "ABCD"),
 * Scale (finite, nonzero, at most 15 significant digits, default 1), Unit
 * (sm_unit_parse: "kWh" becomes Wh with the factor applied; default none),
 * Obis (optional).  A map name must be unique and may not be a built-in
 * model's name; register names are [a-z0-9_]{1,47}.  Details: map names
 * follow the meter name rule ([A-Za-z0-9_.-]{1,63}); Scale becomes the
 * shortest decimal mul * 10^exp that reads back as the same double (0.1 ->
 * 1e-1, 1000 -> 1e3; exp within -22..22), to which the unit's exponent is
 * added; a Unit sm_unit_parse does not know is kept as text (SM_UNIT_OTHER,
 * at most SM_UNIT_TEXT-1 characters); Obis is a full code A-B:C.D.E[*F].
 * Each map is
 * checked with sm_mb_map_check when its block ends; errors name the map and
 * the register ("register map \"trovis\": register \"flow_temp\": Type:
 * expected one of int16, ..., got \"float\"").
 */
enum sm_err sm_config_from_tree(struct sm_config *c, const struct sm_cfg_node *block,
				char *err, size_t errlen);
/* (On error c keeps the meters read so far: free it with sm_config_free.) */

/*
 * The one validator: required options present, protocol line defaults
 * filled in, at least one meter, meters sharing a Device agree on line
 * settings (a conflict names both meters).  SM_OK or SM_E_CONFIG.
 *
 * Details:
 *  - an option whose table entry lists protocols (sm_option_desc.protocols)
 *    given to a meter of another protocol is an error naming the meter, the
 *    option and both protocols;
 *  - defaults: Timeout SM_DEFAULT_TIMEOUT_S, Mode SM_DEFAULT_IEC_MODE,
 *    BaudSwitchDelay SM_DEFAULT_BAUD_SWITCH_DELAY_S, Framing
 *    SM_DEFAULT_FRAMING ("mbus"); line settings not
 *    given come from proto->line_defaults(m) when the protocol has it
 *    (IEC 62056-21 mode D: 9600 7E1), else from proto->line;
 *  - an iec62056-21 meter in Mode "D" pushes: Address, MaxBaudrate,
 *    BaudSwitchDelay and WakeUp are errors there, and it cannot share its
 *    Device with another iec62056-21 meter (the streams could not be told
 *    apart);
 *  - polled iec62056-21 meters (modes A-C) sharing a Device (an RS485 bus)
 *    each need an Address, and different ones: a meter without one, or two
 *    with the same one, is an error naming both meters.
 * These bus rules are checked before the line-setting agreement.
 *  - AuthKey without Key or KeyFile is an error;
 *  - modbus meters: exactly one of Model and RegisterMap (a Model must be
 *    built in, a RegisterMap must name a <RegisterMap> block); mb_map and
 *    mb_plan are set (a plan that does not fit is an error); Timeout
 *    defaults to SM_DEFAULT_MODBUS_TIMEOUT_S and must lie within
 *    SM_MIN/MAX_MODBUS_TIMEOUT_S; Slave defaults to SM_DEFAULT_SLAVE and is
 *    1..247 on RTU devices (0 and 255 only on tcp://); meters on one Device
 *    must all be modbus and have different Slave ids (an error names both
 *    meters); an RTU Baudrate must be one sm_mb_baud_ok accepts (checked
 *    by the option itself); rtu+tcp:// Devices are for modbus only;
 *  - a <RegisterMap> no meter uses is not an error;
 *  - c->warnings is (re)built from the meters' warnings, also when the
 *    configuration turns out invalid.
 */
enum sm_err sm_config_validate(struct sm_config *c, char *err, size_t errlen);

/* Group validated meters by Device.  *ports is an owned array; free with
 * sm_ports_free.  SM_OK or SM_E_NOMEM. */
enum sm_err sm_config_ports(const struct sm_config *c, struct sm_port **ports, size_t *nports);
void sm_ports_free(struct sm_port *ports, size_t nports);

/* Whether a reading passes the meter's Select list (true when no list). */
bool sm_meter_selects(const struct sm_meter_cfg *m, const struct sm_obis *o, const char *name);

/* ---- the option table (drives sm_meter_set, CLI flags and --help) ---- */
enum sm_opt_type { SM_OPT_STRING, SM_OPT_NUMBER, SM_OPT_BOOL, SM_OPT_LIST };
struct sm_option_desc {
	const char *name;  /* "MaxBaudrate" (config) */
	const char *flag;  /* "max-baudrate" (CLI: --max-baudrate) */
	enum sm_opt_type type;
	const char *arg;   /* "BAUD" for help texts */
	const char *help;
	const char *protocols; /* NULL: for every protocol; else the names of the
				  protocols the option applies to, comma-separated
				  ("iec62056-21"): sm_config_validate rejects it
				  for a meter of another protocol */
};
extern const struct sm_option_desc sm_meter_options[]; /* terminated by name == NULL */
/* Look an option up by config name (case-insensitive) or by flag name
 * (exact, without dashes); NULL if unknown. */
const struct sm_option_desc *sm_option_find(const char *name);
const struct sm_option_desc *sm_option_find_flag(const char *flag);
/* Whether option d applies to protocol p (true when d->protocols is NULL;
 * false for a NULL p when it is not). */
bool sm_option_applies(const struct sm_option_desc *d, const struct sm_proto *p);

/* Whether s holds 16 or more hex digits in a row (blanks, ':', '-', ','
 * and "0x" between them do not end a row): text that may be key material.
 * Messages about a KeyFile path and about stray arguments of the program
 * (a key given without its --key) do not quote such text; they say how
 * long it is instead.  s may be NULL. */
bool sm_text_has_key_digits(const char *s);

/* Line settings as text: "115200 8N1". */
void sm_line_format(const struct sm_line *l, char *out, size_t cap);

#endif
