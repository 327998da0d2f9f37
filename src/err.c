#include <stdarg.h>
#include <stdio.h>
#include "err.h"
#include "frame.h"

const char *sm_err_name(enum sm_err e)
{
	switch (e) {
#define SM_ERR_NAME(sym, val, msg) case sym: return #sym;
	SM_ERR_LIST(SM_ERR_NAME)
#undef SM_ERR_NAME
	}
	return "SM_UNKNOWN";
}

const char *sm_strerror(enum sm_err e)
{
	switch (e) {
#define SM_ERR_MSG(sym, val, msg) case sym: return msg;
	SM_ERR_LIST(SM_ERR_MSG)
#undef SM_ERR_MSG
	}
	return "unknown error";
}

void sm_diag_set(struct sm_diag *d, const char *fmt, ...)
{
	va_list ap;
	if (d == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(d->msg, sizeof d->msg, fmt, ap);
	va_end(ap);
}
