#include "sm_config.h"
#include "version.h"

const char *sm_version(void)
{
	return PACKAGE_VERSION;
}
