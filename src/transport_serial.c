/*
 * transport_serial.c - local serial ports.  The only file that includes
 * libserialport.
 *
 * Two backends behind one object:
 *  - libserialport (0.1.1) for real serial ports (USB adapters, UARTs);
 *  - plain termios for pseudo-terminals and for ttys libserialport does not
 *    know.  libserialport 0.1.1 cannot open a pty at all: sp_get_port_by_name
 *    looks the device up in /sys/class/tty/<name>, which has no entry for
 *    /dev/pts/N (SP_ERR_ARG "Device not found"), and its sp_open asks for the
 *    modem lines (TIOCMGET), which a pty does not have.  The simulator and the
 *    end-to-end tests use ptys, so they take the termios path.  A pty accepts
 *    every termios setting and ignores baud, parity and data bits; nothing it
 *    reports for those is treated as an error.
 *
 * The device path is resolved first (realpath), so /dev/serial/by-id/...
 * links and the simulator's pty links name the real device in messages and
 * reach libserialport under the name it knows.
 *
 * Reads poll the port's descriptor (sp_get_port_handle for libserialport)
 * with the timeout, then take what is there without blocking.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>
#include <libserialport.h>
#include "transport_int.h"

struct serial {
	struct sm_transport base;
	struct sp_port *sp; /* libserialport backend, or NULL */
	int fd;             /* descriptor (owned only when sp == NULL) */
	bool is_pty;
	char path[PATH_MAX];
};

/* libserialport's message for the last SP_ERR_FAIL, else a fixed text. */
static void sp_errtext(enum sp_return r, char *out, size_t cap)
{
	if (r == SP_ERR_FAIL) {
		char *m = sp_last_error_message();
		sm_errf(out, cap, "%s", m != NULL ? m : "failed");
		if (m != NULL)
			sp_free_error_message(m);
		/* libserialport's messages may end with a newline */
		size_t n = strlen(out);
		while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
			out[--n] = '\0';
	} else if (r == SP_ERR_ARG) {
		sm_errf(out, cap, "invalid argument");
	} else if (r == SP_ERR_MEM) {
		sm_errf(out, cap, "out of memory");
	} else if (r == SP_ERR_SUPP) {
		sm_errf(out, cap, "not supported by this port");
	} else {
		sm_errf(out, cap, "error %d", (int)r);
	}
}

static bool line_valid(const struct sm_line *l, char *err, size_t errlen)
{
	if (l->databits < 5 || l->databits > 8) {
		sm_errf(err, errlen, "data bits %d not supported (5..8)", l->databits);
		return false;
	}
	if (l->stopbits != 1 && l->stopbits != 2) {
		sm_errf(err, errlen, "stop bits %d not supported (1 or 2)", l->stopbits);
		return false;
	}
	if (l->parity != SM_PARITY_NONE && l->parity != SM_PARITY_EVEN && l->parity != SM_PARITY_ODD) {
		sm_errf(err, errlen, "parity %d not supported", (int)l->parity);
		return false;
	}
	if (l->baud <= 0) {
		sm_errf(err, errlen, "baud rate %d not supported", l->baud);
		return false;
	}
	return true;
}

/* ---- libserialport backend ---- */

static enum sm_err sp_apply(struct serial *s, const struct sm_line *l, char *err, size_t errlen)
{
	struct sp_port_config *c = NULL;
	enum sp_return r;
	char msg[200];

	r = sp_new_config(&c);
	if (r != SP_OK) {
		sp_errtext(r, msg, sizeof msg);
		sm_errf(err, errlen, "%s: %s", s->path, msg);
		return SM_E_LINE;
	}
	enum sp_parity par = l->parity == SM_PARITY_EVEN  ? SP_PARITY_EVEN
			     : l->parity == SM_PARITY_ODD ? SP_PARITY_ODD
							  : SP_PARITY_NONE;
	if (sp_set_config_baudrate(c, l->baud) != SP_OK || sp_set_config_bits(c, l->databits) != SP_OK ||
	    sp_set_config_parity(c, par) != SP_OK || sp_set_config_stopbits(c, l->stopbits) != SP_OK ||
	    sp_set_config_flowcontrol(c, SP_FLOWCONTROL_NONE) != SP_OK) {
		sp_free_config(c);
		sm_errf(err, errlen, "%s: cannot build the port configuration", s->path);
		return SM_E_LINE;
	}
	r = sp_set_config(s->sp, c);
	sp_free_config(c);
	if (r != SP_OK) {
		sp_errtext(r, msg, sizeof msg);
		sm_errf(err, errlen, "%s: cannot set %d baud, %d data bits, parity %s, %d stop bits: %s",
			s->path, l->baud, l->databits,
			l->parity == SM_PARITY_EVEN ? "even" : l->parity == SM_PARITY_ODD ? "odd" : "none",
			l->stopbits, msg);
		return SM_E_LINE;
	}
	return SM_OK;
}

/* ---- termios backend ---- */

static bool baud_const(int baud, speed_t *out)
{
	static const struct {
		int baud;
		speed_t c;
	} tab[] = {
		{50, B50},         {75, B75},         {110, B110},         {134, B134},
		{150, B150},       {200, B200},       {300, B300},         {600, B600},
		{1200, B1200},     {1800, B1800},     {2400, B2400},       {4800, B4800},
		{9600, B9600},     {19200, B19200},   {38400, B38400},     {57600, B57600},
		{115200, B115200}, {230400, B230400}, {460800, B460800},   {500000, B500000},
		{576000, B576000}, {921600, B921600}, {1000000, B1000000}, {1152000, B1152000},
		{1500000, B1500000}, {2000000, B2000000},
	};
	for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
		if (tab[i].baud == baud) {
			*out = tab[i].c;
			return true;
		}
	return false;
}

static enum sm_err tio_apply(struct serial *s, const struct sm_line *l, char *err, size_t errlen)
{
	struct termios tio;
	speed_t sp;

	bool have_speed = baud_const(l->baud, &sp);

	/* A pty has no baud rate: one termios cannot express is no error there. */
	if (!have_speed && !s->is_pty) {
		sm_errf(err, errlen, "%s: baud rate %d not supported", s->path, l->baud);
		return SM_E_LINE;
	}
	if (tcgetattr(s->fd, &tio) != 0) {
		sm_errf(err, errlen, "%s: tcgetattr: %s", s->path, strerror(errno));
		return SM_E_LINE;
	}
	cfmakeraw(&tio);
	tio.c_iflag &= ~(tcflag_t)(IXON | IXOFF | IXANY | INPCK | ISTRIP);
	tio.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | PARODD | CSTOPB | CRTSCTS);
	tio.c_cflag |= CLOCAL | CREAD;
	switch (l->databits) {
	case 5: tio.c_cflag |= CS5; break;
	case 6: tio.c_cflag |= CS6; break;
	case 7: tio.c_cflag |= CS7; break;
	default: tio.c_cflag |= CS8; break;
	}
	if (l->parity != SM_PARITY_NONE) {
		tio.c_cflag |= PARENB;
		if (l->parity == SM_PARITY_ODD)
			tio.c_cflag |= PARODD;
	}
	if (l->stopbits == 2)
		tio.c_cflag |= CSTOPB;
	tio.c_cc[VMIN] = 0;
	tio.c_cc[VTIME] = 0;
	if (have_speed) {
		cfsetispeed(&tio, sp);
		cfsetospeed(&tio, sp);
	}
	if (tcsetattr(s->fd, TCSANOW, &tio) != 0) {
		/* A pty keeps whatever termios it is given; should one still
		 * refuse a setting it cannot have anyway, that is no error. */
		if (s->is_pty)
			return SM_OK;
		sm_errf(err, errlen, "%s: cannot set %d baud, %d data bits, %d stop bits: %s", s->path,
			l->baud, l->databits, l->stopbits, strerror(errno));
		return SM_E_LINE;
	}
	return SM_OK;
}

/* ---- ops ---- */

static enum sm_err serial_read(struct sm_transport *t, uint8_t *buf, size_t cap, int timeout_ms,
			       size_t *got)
{
	struct serial *s = (struct serial *)t;

	if (s->sp == NULL) {
		enum sm_err rc = sm_fd_read(t, s->fd, buf, cap, timeout_ms, got);
		/* A tty reads end of file when it hangs up (a pty whose master
		 * closed): the device is gone, not at the end of a stream. */
		if (rc == SM_E_CLOSED) {
			sm_transport_seterr(t, "device hung up");
			rc = SM_E_IO;
		}
		return rc;
	}

	*got = 0;
	int ev = sm_fd_wait(s->fd, POLLIN, timeout_ms);
	if (ev < 0) {
		sm_transport_seterr(t, "poll: %s", strerror(errno));
		return SM_E_IO;
	}
	if (ev == 0)
		return SM_OK;
	if (ev & POLLNVAL) {
		sm_transport_seterr(t, "poll: descriptor not open");
		return SM_E_IO;
	}
	size_t want = cap > INT_MAX ? INT_MAX : cap;
	enum sp_return r = sp_nonblocking_read(s->sp, buf, want);
	if (r > 0) {
		*got = (size_t)r;
		return SM_OK;
	}
	if (r == 0) {
		/* Readable but nothing to read: the device went away (a USB
		 * adapter unplugged reads as end of file). */
		if (ev & (POLLHUP | POLLERR)) {
			sm_transport_seterr(t, "device hung up");
			return SM_E_IO;
		}
		sm_transport_seterr(t, "device returned end of file");
		return SM_E_IO;
	}
	char msg[200];
	sp_errtext(r, msg, sizeof msg);
	sm_transport_seterr(t, "read: %s", msg);
	return SM_E_IO;
}

static enum sm_err serial_write(struct sm_transport *t, const uint8_t *p, size_t n, int timeout_ms)
{
	struct serial *s = (struct serial *)t;

	return sm_fd_write(t, s->fd, p, n, timeout_ms, false);
}

static enum sm_err serial_drain(struct sm_transport *t)
{
	struct serial *s = (struct serial *)t;

	if (s->sp != NULL) {
		enum sp_return r = sp_drain(s->sp);
		if (r != SP_OK) {
			char msg[200];
			sp_errtext(r, msg, sizeof msg);
			sm_transport_seterr(t, "drain: %s", msg);
			return SM_E_IO;
		}
		return SM_OK;
	}
	while (tcdrain(s->fd) != 0) {
		if (errno == EINTR)
			continue;
		sm_transport_seterr(t, "tcdrain: %s", strerror(errno));
		return SM_E_IO;
	}
	return SM_OK;
}

static enum sm_err serial_set_line(struct sm_transport *t, const struct sm_line *l)
{
	struct serial *s = (struct serial *)t;

	if (!line_valid(l, t->err, sizeof t->err))
		return SM_E_LINE;
	if (s->sp != NULL)
		return sp_apply(s, l, t->err, sizeof t->err);
	return tio_apply(s, l, t->err, sizeof t->err);
}

static void serial_close(struct sm_transport *t)
{
	struct serial *s = (struct serial *)t;

	if (s->sp != NULL) {
		sp_close(s->sp);
		sp_free_port(s->sp);
	} else if (s->fd >= 0) {
		close(s->fd);
	}
	free(s);
}

static const struct sm_transport_ops serial_ops = {
	.read = serial_read,
	.write = serial_write,
	.drain = serial_drain,
	.set_line = serial_set_line,
	.close = serial_close,
};

/* Unix98 pty slaves: majors 136..143 (Linux devices.txt). */
static bool is_pty_dev(const struct stat *st, const char *path)
{
	unsigned maj = major(st->st_rdev);

	return (maj >= 136 && maj <= 143) || strncmp(path, "/dev/pts/", 9) == 0;
}

static enum sm_err open_termios(struct serial *s, char *err, size_t errlen)
{
	s->fd = open(s->path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (s->fd < 0) {
		sm_errf(err, errlen, "%s: %s", s->path, strerror(errno));
		return SM_E_OPEN;
	}
	if (!isatty(s->fd)) {
		sm_errf(err, errlen, "%s: not a serial port (terminal)", s->path);
		return SM_E_OPEN;
	}
	return SM_OK;
}

static enum sm_err open_sp(struct serial *s, char *err, size_t errlen)
{
	char msg[200];
	enum sp_return r = sp_open(s->sp, SP_MODE_READ_WRITE);

	if (r != SP_OK) {
		sp_errtext(r, msg, sizeof msg);
		sm_errf(err, errlen, "%s: %s", s->path, msg);
		return SM_E_OPEN;
	}
	r = sp_get_port_handle(s->sp, &s->fd);
	if (r != SP_OK) {
		sp_errtext(r, msg, sizeof msg);
		sm_errf(err, errlen, "%s: %s", s->path, msg);
		return SM_E_OPEN;
	}
	/* Reads and writes poll first; keep the descriptor non-blocking so a
	 * write never stalls past its deadline. */
	int fl = fcntl(s->fd, F_GETFL);
	if (fl >= 0)
		(void)fcntl(s->fd, F_SETFL, fl | O_NONBLOCK);
	return SM_OK;
}

enum sm_err sm_serial_open(const char *path, const struct sm_line *line,
			   struct sm_transport **out, char *err, size_t errlen)
{
	struct serial *s;
	struct stat st;
	enum sm_err rc;

	if (!line_valid(line, err, errlen))
		return SM_E_LINE;
	s = calloc(1, sizeof *s);
	if (s == NULL) {
		sm_errf(err, errlen, "%s: out of memory", path);
		return SM_E_NOMEM;
	}
	s->base.ops = &serial_ops;
	s->base.kind = SM_TRANSPORT_SERIAL;
	s->fd = -1;

	if (realpath(path, s->path) == NULL) {
		sm_errf(err, errlen, "%s: %s", path, strerror(errno));
		free(s);
		return SM_E_OPEN;
	}
	if (stat(s->path, &st) != 0) {
		sm_errf(err, errlen, "%s: %s", path, strerror(errno));
		free(s);
		return SM_E_OPEN;
	}
	if (!S_ISCHR(st.st_mode)) {
		sm_errf(err, errlen, "%s: not a serial device (use file:%s to replay a capture)", path,
			path);
		free(s);
		return SM_E_OPEN;
	}
	s->is_pty = is_pty_dev(&st, s->path);

	if (!s->is_pty) {
		enum sp_return r = sp_get_port_by_name(s->path, &s->sp);
		if (r == SP_ERR_ARG) {
			/* Not a port libserialport knows (no sysfs entry):
			 * take the termios path. */
			s->sp = NULL;
		} else if (r != SP_OK) {
			char msg[200];
			sp_errtext(r, msg, sizeof msg);
			sm_errf(err, errlen, "%s: %s", s->path, msg);
			s->sp = NULL;
			serial_close(&s->base);
			return SM_E_OPEN;
		}
	}
	rc = s->sp != NULL ? open_sp(s, err, errlen) : open_termios(s, err, errlen);
	if (rc == SM_OK)
		rc = s->sp != NULL ? sp_apply(s, line, err, errlen) : tio_apply(s, line, err, errlen);
	if (rc != SM_OK) {
		serial_close(&s->base);
		return rc;
	}
	*out = &s->base;
	return SM_OK;
}
