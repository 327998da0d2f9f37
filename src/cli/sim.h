/*
 * sim.h - the pieces of `smartmeter simulate` shared by the simulated
 * meters: the options, the pseudo-terminal and waiting for input or a
 * stop signal.  Only the simulate command uses this (one thread).
 *
 * simulate.c parses the command line into struct sim_opts and hands it to
 * the protocol's simulator (sim_dsmr.c, sim_iec.c, sim_dlms.c, sim_sml.c,
 * sim_modbus.c), which loads its
 * fixtures (usage errors before any pty exists), opens the pty with
 * sim_pty_open, serves until a signal or --count, and closes it again.
 * Diagnostics go to stderr through sm_cli_log.
 */
#ifndef SM_CLI_SIM_H
#define SM_CLI_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_MAX_FIXTURE (1024 * 1024)
#define SIM_MAX_METERS 16
#define SIM_MAX_METER_ARGS 247 /* --meter arguments (a Modbus bus: one per unit id) */

/* One --meter ADDR[=FIXTURE] (IEC 62056-21 bus).  Borrowed from argv. */
struct sim_meter_arg {
	const char *address; /* "" for a meter without address */
	size_t address_n;
	const char *fixture; /* NULL: the built-in meter */
};

struct sim_opts {
	const char *proto;   /* canonical protocol name ("dsmr", "iec62056-21") */
	const char *fixture; /* --fixture or NULL */
	const char *link;    /* --link or NULL */
	double period;       /* --period seconds (push) */
	bool period_set;
	long long count;     /* --count, -1 = unlimited */
	bool verbatim;       /* --verbatim */
	/* IEC 62056-21 */
	char mode;           /* --mode: 'A' 'B' 'C' (default) 'D' */
	const char *address; /* --address or NULL */
	int baud;            /* --baudrate: offered (A-C) or push (D) speed, 0 = default */
	bool echo;           /* --echo: echo what the reader sends (half-duplex head) */
	bool pace;           /* --pace: send at the line's real character rate */
	size_t nmeters;      /* --meter entries */
	struct sim_meter_arg meters[SIM_MAX_METERS];
	/* encryption: dlms, and dsmr (Luxembourg Smarty frames).  The keys are
	 * wiped by simulate.c when the simulator returns. */
	bool has_key;        /* --key or --key-file */
	uint8_t key[16];
	bool has_auth_key;   /* --auth-key */
	uint8_t auth_key[16];
	uint8_t security;    /* --security: 0x20, 0x21, 0x30 or 0x31; 0 = the default
				(0x30 with --auth-key, else 0x20) */
	/* dlms */
	char framing;        /* --framing: 'm' M-Bus (default), 'h' HDLC, 'r' raw */
	bool framing_set;
	char layout;         /* --layout: 'f' flat (EVN/Sagemcom, default), 's' structs (Kaifa) */
	/* modbus (--baudrate and --pace above apply too) */
	size_t nmeter_args;  /* --meter arguments as given (borrowed from argv) */
	const char *meter_args[SIM_MAX_METER_ARGS];
	const char *values;  /* --values FILE ("-" stdout) or NULL */
	const char *listen;  /* --listen HOST:PORT or NULL (then a pty) */
	bool rtu_over_tcp;   /* --rtu-over-tcp: RTU frames on the --listen connection */
	char parity;         /* --parity: 'N' (default), 'E' or 'O' (for --pace) */
	int proc_ms;         /* --proc-ms: a slave's processing time with --pace (default 10) */
	const char *log_requests; /* --log-requests FILE ("-" stdout) or NULL */
};

/* Exit status of a simulator: SM_EXIT_OK, SM_EXIT_NONE or SM_EXIT_USAGE. */
int sim_dsmr(const struct sim_opts *o);
int sim_iec(const struct sim_opts *o);
int sim_dlms(const struct sim_opts *o);
int sim_sml(const struct sim_opts *o);
int sim_modbus(const struct sim_opts *o);

/* The security control a simulator seals with (o->security or its default). */
uint8_t sim_security(const struct sim_opts *o);

/* The speed the reader set on its end of the pty (Linux answers TCGETS on
 * a master for the slave), 0 if unknown. */
int sim_reader_baud(int master);

/* ---- the pseudo-terminal ---- */
struct sim_pty {
	int master;      /* the meter's end (non-blocking) */
	int slave;       /* kept open so the master never sees a hangup */
	int sfd;         /* signalfd for SIGTERM, SIGINT, SIGHUP */
	const char *pts; /* the slave's path */
	const char *link;
	bool linked;
};

/*
 * Open a raw pty, link it at link (may be NULL), block SIGTERM, SIGINT and
 * SIGHUP into a signalfd and ignore SIGPIPE.  0, or -1 after logging why
 * (p is then closed already).
 */
int sim_pty_open(struct sim_pty *p, const char *link);
/* Give a reader up to 2 s to take what is still unread, then close
 * everything and remove the link. */
void sim_pty_close(struct sim_pty *p);

/*
 * Wait until the monotonic time until_ms (sm_mono_ms), a stop signal, or,
 * when input is true, bytes from the reader on the master.
 * SIM_STOP: a signal arrived (logged); SIM_INPUT: bytes are waiting;
 * SIM_TIME: until_ms was reached.
 */
enum sim_wake { SIM_TIME, SIM_INPUT, SIM_STOP };
enum sim_wake sim_wait(struct sim_pty *p, int64_t until_ms, bool input);

/*
 * A push meter: the next frame to send, built for the monotonic time
 * mono_ms and the wall time wall_ms.  SM_OK with *p, *n set (n 0: nothing
 * this time; p stays valid until the next call), or an error, which is
 * logged as "cannot build <what>: ..." and the meter goes on.
 */
typedef enum sm_err (*sim_frame_fn)(void *ctx, int64_t mono_ms, int64_t wall_ms, const uint8_t **p, size_t *n);

/*
 * Send a frame every o->period seconds (o->count of them; 0 = until a stop
 * signal) on the pty, dropping whatever the reader writes.  With
 * report_baud, the reader's line speed is logged when it changes.
 * Returns SM_EXIT_OK.  (simulate.c)
 */
int sim_push(struct sim_pty *pty, const struct sim_opts *o, bool report_baud, const char *what,
	     sim_frame_fn frame, void *ctx);

/* Write a whole frame to the master, giving up after 500 ms (an unread
 * pty fills up, and a meter's bytes are lost on an unread line too).
 * Returns the bytes written. */
size_t sim_write(int fd, const uint8_t *p, size_t n);

/* A fixture file as bytes: hex text (one frame a line, '#' comments,
 * blanks ignored) when it is nothing but that, else the raw bytes.  In
 * place; returns the byte count.  (simulate.c) */
size_t sim_fixture_bytes(unsigned char *p, size_t n);

#endif
