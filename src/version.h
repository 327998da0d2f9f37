/* version.h - the package version, kept out of collectd's config.h's way. */
#ifndef SM_VERSION_H
#define SM_VERSION_H
/* "0.1.0" */
const char *sm_version(void);
#endif
