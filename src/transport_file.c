/*
 * transport_file.c - "file:PATH": replay of captured bytes.  Reads return
 * the file in chunks of at most the caller's capacity, without waiting;
 * the end of the file is SM_E_CLOSED.  Writes are accepted and discarded,
 * so a request/response protocol can replay the meter's side of a capture.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "transport_int.h"

struct file {
	struct sm_transport base;
	int fd;
};

static enum sm_err file_read(struct sm_transport *t, uint8_t *buf, size_t cap, int timeout_ms,
			     size_t *got)
{
	struct file *f = (struct file *)t;

	*got = 0;
	for (;;) {
		ssize_t r = read(f->fd, buf, cap);
		if (r > 0) {
			*got = (size_t)r;
			return SM_OK;
		}
		if (r == 0) {
			sm_transport_seterr(t, "end of file");
			return SM_E_CLOSED;
		}
		if (errno == EINTR)
			continue;
		sm_transport_seterr(t, "read: %s", strerror(errno));
		return SM_E_IO;
	}
}

static enum sm_err file_write(struct sm_transport *t, const uint8_t *p, size_t n, int timeout_ms)
{
	return SM_OK;
}

static enum sm_err file_drain(struct sm_transport *t)
{
	return SM_OK;
}

static enum sm_err file_set_line(struct sm_transport *t, const struct sm_line *line)
{
	return SM_OK;
}

static void file_close(struct sm_transport *t)
{
	struct file *f = (struct file *)t;

	if (f->fd >= 0)
		close(f->fd);
	free(f);
}

static const struct sm_transport_ops file_ops = {
	.read = file_read,
	.write = file_write,
	.drain = file_drain,
	.set_line = file_set_line,
	.close = file_close,
};

enum sm_err sm_file_open(const char *path, struct sm_transport **out, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	if (path[0] == '\0') {
		sm_errf(err, errlen, "file: expected file:PATH");
		return SM_E_OPEN;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		sm_errf(err, errlen, "%s: %s", path, strerror(errno));
		return SM_E_OPEN;
	}
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		sm_errf(err, errlen, "%s: is a directory", path);
		return SM_E_OPEN;
	}
	struct file *f = calloc(1, sizeof *f);
	if (f == NULL) {
		close(fd);
		sm_errf(err, errlen, "%s: out of memory", path);
		return SM_E_NOMEM;
	}
	f->base.ops = &file_ops;
	f->base.kind = SM_TRANSPORT_FILE;
	f->fd = fd;
	*out = &f->base;
	return SM_OK;
}
