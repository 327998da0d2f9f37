/*
 * gen_corpus_config.c - writes the seed corpus of fuzz_config
 * (tests/fuzz/corpus/config): for every option of the option table
 * (sm_meter_options) configurations with valid and invalid values, given to
 * a protocol it applies to and to one it does not, in the file form and in
 * the flag form; every protocol and every built-in Modbus model; Modbus
 * <RegisterMap> blocks; bus conflicts; syntax corner cases.  Files named on
 * the command line after DIR (the contrib examples) are copied in as they are.
 *
 *   ./tests/fuzz/gen_corpus_config tests/fuzz/corpus/config contrib/NAME.conf...
 *
 * The committed corpus also holds fuzz-* files: inputs `make fuzz-config`
 * found that reach code these seeds do not, kept with
 *   fuzz_config_libfuzzer -merge=1 -use_counters=0 CORPUS tests/fuzz/work-config
 * (regenerating the seeds leaves them alone).  Seeds name the key files the
 * target writes (see fuzz_config.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "modbus_map.h"
#include "proto.h"

static const char *outdir;
static int nfiles;

static void put(const char *name, const char *text)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", outdir, name);
	FILE *fp = fopen(path, "wb");
	size_t n = strlen(text);
	if (fp == NULL || fwrite(text, 1, n, fp) != n || fclose(fp) != 0) {
		perror(path);
		exit(1);
	}
	nfiles++;
}

static void __attribute__((format(printf, 2, 3))) putf(const char *name, const char *fmt, ...)
{
	static char text[16384];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof text) {
		fprintf(stderr, "%s: seed too long\n", name);
		exit(2);
	}
	put(name, text);
}

static void copy_file(const char *path)
{
	FILE *fp = fopen(path, "rb");
	static char text[65536];
	if (fp == NULL) {
		perror(path);
		exit(1);
	}
	size_t n = fread(text, 1, sizeof text - 1, fp);
	fclose(fp);
	text[n] = '\0';
	const char *base = strrchr(path, '/');
	base = base != NULL ? base + 1 : path;
	char name[256];
	snprintf(name, sizeof name, "contrib-%s", base);
	put(name, text);
}

/* ---- what a meter of each protocol needs ---- */
static const char *base_options(const char *proto)
{
	if (strcmp(proto, "modbus") == 0)
		return "  Model \"sdm630\"\n";
	return "";
}

static const char *base_device(const char *proto)
{
	if (strcmp(proto, "modbus") == 0)
		return "/dev/ttyUSB3";
	return "/dev/ttyUSB0";
}

/* A protocol the option applies to, and one it does not (NULL: none). */
static const char *applies_to(const struct sm_option_desc *d, char *buf, size_t cap)
{
	if (d->protocols == NULL)
		return "dsmr";
	snprintf(buf, cap, "%s", d->protocols);
	char *comma = strchr(buf, ',');
	if (comma != NULL)
		*comma = '\0';
	return buf;
}

static const char *not_applies_to(const struct sm_option_desc *d)
{
	static const char *const all[] = {"sml", "dsmr", "iec62056-21", "dlms", "modbus"};
	if (d->protocols == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		if (strstr(d->protocols, all[i]) == NULL)
			return all[i];
	return NULL;
}

/* Values for an option: file form (quoted where strings) and flag form
 * (as typed).  Valid first, then invalid; unknown options get values by
 * type. */
struct val {
	const char *conf; /* value text in the config file */
	const char *flag; /* flag value; NULL: the flag alone */
	int valid;
	const char *extra; /* more lines for the meter (file form) */
	const char *extra_flags; /* more flag lines */
};

#define V(c, f, ok) {c, f, ok, NULL, NULL}
#define VX(c, f, ok, x, xf) {c, f, ok, x, xf}
static const struct val v_protocol[] = {
	V("\"dsmr\"", "dsmr", 1), V("\"DSMR\"", "DSMR", 1), V("\"sml\"", "sml", 1),
	V("\"dlms\"", "dlms", 1), V("\"iec62056-21\"", "iec62056-21", 1),
	V("\"modbus\"", "modbus", 0), V("\"p1\"", "p1", 0), V("7", "7", 0), V("", NULL, 0),
	V("\"dsmr\" \"sml\"", "dsmr,sml", 0),
};
static const struct val v_device[] = {
	V("\"/dev/ttyUSB1\"", "/dev/ttyUSB1", 1), V("\"tcp://127.0.0.1:2000\"", "tcp://127.0.0.1:2000", 1),
	V("\"tcp://[::1]:2000\"", "tcp://[::1]:2000", 1), V("\"file:/tmp/capture.bin\"", "file:/tmp/capture.bin", 1),
	V("\"tcp://127.0.0.1\"", "tcp://127.0.0.1", 0), V("\"tcp://h:0\"", "tcp://h:0", 0),
	V("\"tcp://h:65536\"", "tcp://h:65536", 0), V("\"ftp://h:21\"", "ftp://h:21", 0),
	V("\"\"", "", 0), V("\"rtu+tcp://127.0.0.1:502\"", "rtu+tcp://127.0.0.1:502", 0),
	V("\"file:\"", "file:", 0), V("42", "42", 0),
};
static const struct val v_baudrate[] = {
	V("9600", "9600", 1), V("115200", "115200", 1), V("921600", "921600", 1), V("0x2580", "0x2580", 1),
	V("12345", "12345", 0), V("-9600", "-9600", 0), V("\"9600\"", "9600x", 0), V("9600.5", "9600.5", 0),
	V("1e300", "1e300", 0),
};
static const struct val v_parity[] = {
	V("\"none\"", "none", 1), V("\"even\"", "even", 1), V("\"ODD\"", "ODD", 1), V("\"mark\"", "mark", 0),
	V("1", "1", 0),
};
static const struct val v_databits[] = {
	V("7", "7", 1), V("8", "8", 1), V("5", "5", 1), V("9", "9", 0), V("4", "4", 0), V("7.5", "7.5", 0),
};
static const struct val v_stopbits[] = {
	V("1", "1", 1), V("2", "2", 1), V("3", "3", 0), V("1.5", "1.5", 0), V("0", "0", 0),
};
static const struct val v_interval[] = {
	V("0", "0", 1), V("10", "10", 1), V("0.25", "0.25", 1), V("86400", "86400", 1),
	V("-1", "-1", 0), V("86401", "86401", 0), V("\"10\"", "ten", 0), V("10 20", "10,20", 0),
};
static const struct val v_timeout[] = {
	V("5", "5", 1), V("0.5", "0.5", 1), V("0", "0", 0), V("1e9", "1e9", 0), V("true", "true", 0),
};
static const struct val v_select[] = {
	V("\"energy_import\" \"1-0:2.8.0\"", "energy_import,1-0:2.8.0", 1),
	V("\"power_import\"", "power_import", 1), V("\"1-0:1.8.1*255\"", "1-0:1.8.1*255", 1),
	V("\"obis_0_0_C_1_0\"", "obis_0_0_C_1_0", 0), V("\"0-0:C.1.0\"", "0-0:C.1.0", 1),
	V("\"1-0:x\"", "1-0:x", 0), V("\"bad name!\"", "bad name!", 0), V("1", "", 0),
	V("\"a\" \"b\" \"c\" \"d\" \"e\" \"f\" \"g\" \"h\" \"i\" \"j\" \"k\" \"l\" \"m\" \"n\" \"o\" \"p\" "
	  "\"q\" \"r\" \"s\" \"t\" \"u\" \"v\" \"w\" \"x\" \"y\" \"z\" \"aa\" \"bb\" \"cc\" \"dd\" \"ee\" "
	  "\"ff\" \"gg\"",
	  "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s,t,u,v,w,x,y,z,aa,bb,cc,dd,ee,ff,gg", 0),
	VX("\"energy_import\"", "energy_import", 1, "  Select \"energy_export\"\n", "--select energy_export\n"),
};
static const struct val v_bool[] = {
	V("true", NULL, 1), V("false", "false", 1), V("\"yes\"", "yes", 1), V("off", "0", 1),
	V("\"maybe\"", "maybe", 0), V("2", "2", 0), V("true false", "true,false", 0),
};
static const struct val v_mode[] = {
	V("\"A\"", "A", 1), V("\"B\"", "B", 1), V("\"C\"", "C", 1), V("\"D\"", "D", 1), V("\"c\"", "c", 1),
	V("\"E\"", "E", 0), V("\"CD\"", "CD", 0), V("3", "3", 0),
};
static const struct val v_address[] = {
	V("\"12345678\"", "12345678", 1), V("\"AB 12\"", "AB 12", 1), V("\"001\"", "001", 1),
	V("12345678", NULL, 0), V("\"a!b\"", "a!b", 0), V("\"\"", "", 0),
	V("\"123456789012345678901234567890123\"", "123456789012345678901234567890123", 0),
	VX("\"42\"", "42", 0, "  Mode \"D\"\n", "--mode D\n"),
};
static const struct val v_max_baud[] = {
	V("9600", "9600", 1), V("300", "300", 1), V("19200", "19200", 1), V("38400", "38400", 0),
	V("1000", "1000", 0),
};
static const struct val v_bsd[] = {
	V("0", "0", 1), V("0.3", "0.3", 1), V("5", "5", 1), V("6", "6", 0), V("-0.1", "-0.1", 0),
};
static const struct val v_key[] = {
	V("\"0F1E2D3C4B5A69788796A5B4C3D2E1F0\"", "0F1E2D3C4B5A69788796A5B4C3D2E1F0", 1),
	V("\"  a1b2c3d4e5f60718293a4b5c6d7e8f90  \"", "  a1b2c3d4e5f60718293a4b5c6d7e8f90", 1),
	V("\"0F1E2D3C4B5A69788796A5B4C3D2E1F\"", "0F1E2D3C4B5A69788796A5B4C3D2E1F", 0),
	V("\"0F1E2D3C4B5A69788796A5B4C3D2E1FG\"", "0F1E2D3C4B5A69788796A5B4C3D2E1FG", 0),
	V("\"0F1E2D3C4B5A6978 8796A5B4C3D2E1F0\"", "0F1E2D3C4B5A6978 8796A5B4C3D2E1F0", 0),
	V("\"0F1E2D3C4B5A69788796A5B4C3D2E1F0aa\"", "0F1E2D3C4B5A69788796A5B4C3D2E1F0aa", 0),
	V("12345678901234567890123456789012", NULL, 0),
	VX("\"0F1E2D3C4B5A69788796A5B4C3D2E1F0\"", "0F1E2D3C4B5A69788796A5B4C3D2E1F0", 0,
	   "  KeyFile \"/tmp/sm-fuzz-config-key-0600\"\n", "--key-file /tmp/sm-fuzz-config-key-0600\n"),
	VX("\"0F1E2D3C4B5A69788796A5B4C3D2E1F0\"", "0F1E2D3C4B5A69788796A5B4C3D2E1F0", 0,
	   "  Key \"deadbeefdeadbeefdeadbeefdeadbeef\"\n", "--key deadbeefdeadbeefdeadbeefdeadbeef\n"),
};
static const struct val v_key_file[] = {
	V("\"/tmp/sm-fuzz-config-key-0600\"", "/tmp/sm-fuzz-config-key-0600", 1),
	V("\"/tmp/sm-fuzz-config-key-0644\"", "/tmp/sm-fuzz-config-key-0644", 1),
	V("\"/tmp/sm-fuzz-config-key-bad\"", "/tmp/sm-fuzz-config-key-bad", 0),
	V("\"/nonexistent/evn.key\"", "/nonexistent/evn.key", 0), V("\"/dev/null\"", "/dev/null", 0),
	V("\"/tmp\"", "/tmp", 0), V("\"\"", "", 0),
	VX("\"/tmp/sm-fuzz-config-key-0644\"", "/tmp/sm-fuzz-config-key-0644", 0,
	   "  Key \"0F1E2D3C4B5A69788796A5B4C3D2E1F0\"\n", "--key 0F1E2D3C4B5A69788796A5B4C3D2E1F0\n"),
};
static const struct val v_auth_key[] = {
	VX("\"00112233445566778899AABBCCDDEEFF\"", "00112233445566778899AABBCCDDEEFF", 1,
	   "  Key \"A1B2C3D4E5F60718293A4B5C6D7E8F90\"\n", "--key A1B2C3D4E5F60718293A4B5C6D7E8F90\n"),
	VX("\"00112233445566778899AABBCCDDEEFF\"", "00112233445566778899AABBCCDDEEFF", 1,
	   "  KeyFile \"/tmp/sm-fuzz-config-key-0644\"\n", "--key-file /tmp/sm-fuzz-config-key-0644\n"),
	V("\"00112233445566778899AABBCCDDEEFF\"", "00112233445566778899AABBCCDDEEFF", 0),
	VX("\"00112233445566778899AABBCCDDEEF\"", "00112233445566778899AABBCCDDEEF", 0,
	   "  Key \"A1B2C3D4E5F60718293A4B5C6D7E8F90\"\n", "--key A1B2C3D4E5F60718293A4B5C6D7E8F90\n"),
};
static const struct val v_framing[] = {
	V("\"mbus\"", "mbus", 1), V("\"hdlc\"", "hdlc", 1), V("\"RAW\"", "RAW", 1), V("\"x\"", "x", 0),
	V("1", "1", 0),
};
static const struct val v_slave[] = {
	V("1", "1", 1), V("247", "247", 1), V("0x10", "0x10", 1), V("248", "248", 0), V("0", "0", 0),
	V("256", "256", 0), V("1.5", "1.5", 0), V("\"1\"", "one", 0),
	VX("0", "0", 1, "  Device \"tcp://127.0.0.1:1502\"\n", "--device tcp://127.0.0.1:1502\n"),
	VX("255", "255", 1, "  Device \"tcp://127.0.0.1:1502\"\n", "--device tcp://127.0.0.1:1502\n"),
};
static const struct val v_model[] = {
	V("\"SDM630\"", "SDM630", 1), V("\"sdm999\"", "sdm999", 0), V("\"\"", "", 0), V("630", "630", 0),
};
static const struct val v_register_map[] = {
	V("\"nomap\"", "nomap", 0), V("\"sdm630\"", "sdm630", 0), V("\"bad name\"", "bad name", 0),
};
static const struct val v_string[] = {V("\"x\"", "x", 0), V("1", "1", 0)};
static const struct val v_number[] = {V("1", "1", 0), V("\"x\"", "x", 0)};

struct optvals {
	const char *name;
	const struct val *v;
	size_t n;
};
#define OV(name, arr) {name, arr, sizeof arr / sizeof arr[0]}
static const struct optvals optvals[] = {
	OV("Protocol", v_protocol), OV("Device", v_device), OV("Baudrate", v_baudrate),
	OV("Parity", v_parity), OV("DataBits", v_databits), OV("StopBits", v_stopbits),
	OV("Interval", v_interval), OV("Timeout", v_timeout), OV("Select", v_select),
	OV("IgnoreChecksum", v_bool), OV("Mode", v_mode), OV("Address", v_address),
	OV("MaxBaudrate", v_max_baud), OV("BaudSwitchDelay", v_bsd), OV("WakeUp", v_bool),
	OV("Key", v_key), OV("KeyFile", v_key_file), OV("AuthKey", v_auth_key),
	OV("Framing", v_framing), OV("Slave", v_slave), OV("Model", v_model),
	OV("RegisterMap", v_register_map),
};

static const struct optvals *find_vals(const struct sm_option_desc *d)
{
	static struct optvals fallback;
	for (size_t i = 0; i < sizeof optvals / sizeof optvals[0]; i++)
		if (strcmp(optvals[i].name, d->name) == 0)
			return &optvals[i];
	fallback.name = d->name;
	if (d->type == SM_OPT_NUMBER) {
		fallback.v = v_number;
		fallback.n = 2;
	} else if (d->type == SM_OPT_BOOL) {
		fallback.v = v_bool;
		fallback.n = sizeof v_bool / sizeof v_bool[0];
	} else {
		fallback.v = v_string;
		fallback.n = 2;
	}
	return &fallback;
}

/* One meter with option name = value, in a <Plugin smartmeter> block or bare. */
static void option_seed(const struct sm_option_desc *d, const char *proto, const struct val *v,
			size_t idx, const char *tag, int wrap)
{
	char name[160], body[4096];
	const char *dev = base_device(proto);
	/* Protocol and Device themselves replace the base line. */
	int is_proto = strcmp(d->name, "Protocol") == 0, is_dev = strcmp(d->name, "Device") == 0;
	int own_map = strcmp(d->name, "Model") == 0 || strcmp(d->name, "RegisterMap") == 0;
	const char *base = is_proto || own_map ? "" : base_options(proto);
	snprintf(body, sizeof body, "%s%s%s  %s %s\n%s",
		 is_proto ? "" : "  Protocol \"", is_proto ? "" : proto, is_proto ? "" : "\"\n",
		 d->name, v->conf, v->extra != NULL ? v->extra : "");
	snprintf(name, sizeof name, "opt-%s-%s-%s-%zu.conf", d->name, tag, proto, idx);
	char dline[128] = "";
	int own_dev = is_dev || (v->extra != NULL && strstr(v->extra, "Device") != NULL);
	if (!own_dev)
		snprintf(dline, sizeof dline, "  Device \"%s\"\n", dev);
	if (wrap)
		putf(name, "LoadPlugin smartmeter\n<Plugin smartmeter>\n <Meter \"m%zu\">\n%s%s%s </Meter>\n</Plugin>\n",
		     idx, body, dline, base);
	else
		putf(name, "<Meter \"m%zu\">\n%s%s%s</Meter>\n", idx, body, dline, base);

	/* flag form */
	char flags[2048];
	size_t n = 0;
	if (is_dev)
		n += (size_t)snprintf(flags + n, sizeof flags - n, "--name flagmeter\n");
	if (!is_proto)
		n += (size_t)snprintf(flags + n, sizeof flags - n, "-p %s\n", proto);
	if (!own_dev)
		n += (size_t)snprintf(flags + n, sizeof flags - n, "-d %s\n", dev);
	if (strcmp(proto, "modbus") == 0 && !is_proto && !own_map)
		n += (size_t)snprintf(flags + n, sizeof flags - n, "--model sdm630\n");
	n += (size_t)snprintf(flags + n, sizeof flags - n, "--%s%s%s\n%s", d->flag,
			      v->flag != NULL ? " " : "", v->flag != NULL ? v->flag : "",
			      v->extra_flags != NULL ? v->extra_flags : "");
	snprintf(name, sizeof name, "flag-%s-%s-%s-%zu", d->flag, tag, proto, idx);
	put(name, flags);
}

static void option_seeds(void)
{
	for (size_t i = 0; sm_meter_options[i].name != NULL; i++) {
		const struct sm_option_desc *d = &sm_meter_options[i];
		char buf[128];
		const char *yes = applies_to(d, buf, sizeof buf);
		const char *no = not_applies_to(d);
		const struct optvals *ov = find_vals(d);
		for (size_t k = 0; k < ov->n; k++)
			option_seed(d, yes, &ov->v[k], k, ov->v[k].valid ? "ok" : "bad", (int)(k % 2));
		if (no != NULL && ov->n > 0)
			option_seed(d, no, &ov->v[0], 0, "wrongproto", 1);
		/* given twice */
		if (ov->n > 0) {
			char name[128];
			snprintf(name, sizeof name, "opt-%s-twice.conf", d->name);
			putf(name, "<Meter \"twice\">\n  Protocol \"%s\"\n  Device \"%s\"\n%s  %s %s\n  %s %s\n</Meter>\n",
			     yes, base_device(yes), base_options(yes), d->name, ov->v[0].conf, d->name,
			     ov->v[0].conf);
		}
	}
	/* the option table's names in other case, and an unknown option */
	put("opt-case.conf", "<meter \"case\">\n  PROTOCOL \"dsmr\"\n  device \"/dev/ttyUSB0\"\n"
			     "  baudRATE 115200\n</meter>\n");
	put("opt-unknown.conf", "<Meter \"u\">\n  Protocol \"dsmr\"\n  Device \"/dev/ttyUSB0\"\n"
				"  Speed 115200\n</Meter>\n");
	put("flag-unknown", "-p dsmr\n-d /dev/ttyUSB0\n--speed 115200\n");
	put("flag-missing-value", "-p dsmr\n-d /dev/ttyUSB0\n--baudrate\n");
	put("flag-equals", "--protocol=dsmr\n--device=/dev/ttyUSB0\n--select=power_import,energy_import\n"
			   "--ignore-checksum=yes\n");
	put("flag-badname", "--name bad/name\n-p dsmr\n-d /dev/ttyUSB0\n");
	put("flag-nodevice", "-p dsmr\n");
}

static void protocol_seeds(void)
{
	static const char *const protos[] = {"dsmr", "iec62056-21", "dlms", "sml", "modbus"};
	for (size_t i = 0; i < sizeof protos / sizeof protos[0]; i++) {
		char name[96];
		snprintf(name, sizeof name, "proto-%s.conf", protos[i]);
		putf(name, "<Plugin smartmeter>\n  <Meter \"%s\">\n    Protocol \"%s\"\n    Device \"%s\"\n%s  </Meter>\n</Plugin>\n",
		     protos[i], protos[i], base_device(protos[i]), base_options(protos[i]));
	}
	for (size_t i = 0; sm_mb_models[i] != NULL; i++) {
		char name[96];
		snprintf(name, sizeof name, "model-%s.conf", sm_mb_models[i]->name);
		putf(name, "<Meter \"%s\">\n  Protocol \"modbus\"\n  Device \"/dev/ttyUSB3\"\n  Slave %zu\n"
			   "  Model \"%s\"\n  Interval 5\n  Timeout 0.2\n</Meter>\n",
		     sm_mb_models[i]->name, i + 1, sm_mb_models[i]->name);
		snprintf(name, sizeof name, "flag-model-%s", sm_mb_models[i]->name);
		putf(name, "-p modbus\n-d rtu+tcp://127.0.0.1:5020\n--model %s\n--slave %zu\n", sm_mb_models[i]->name,
		     i + 1);
	}
}

static void register_map_seeds(void)
{
	put("map-basic.conf",
	    "<RegisterMap \"heat\">\n  MaxRegisters 32\n  Description \"a heat meter\"\n"
	    "  <Register \"flow_temperature\">\n    Address 0x0000\n    Function 3\n    Type \"int16\"\n"
	    "    Scale 0.1\n    Unit \"°C\"\n  </Register>\n"
	    "  <Register \"heat_energy\">\n    Address 0x0010\n    Function 3\n    Type \"uint32\"\n"
	    "    WordOrder \"CDAB\"\n    Unit \"kWh\"\n    Obis \"6-0:1.8.0\"\n  </Register>\n"
	    "</RegisterMap>\n"
	    "<Meter \"heat\">\n  Protocol \"modbus\"\n  Device \"/dev/ttyUSB1\"\n  Slave 12\n"
	    "  RegisterMap \"heat\"\n</Meter>\n");
	/* every type and word order, function 4, even counts and gaps */
	static const char *const types[] = {"int16", "uint16", "int32", "uint32",
					    "int64", "uint64", "float32", "float64"};
	static const char *const orders[] = {"ABCD", "CDAB", "BADC", "DCBA"};
	char text[12000];
	size_t n = 0;
	n += (size_t)snprintf(text + n, sizeof text - n,
			      "<Plugin \"smartmeter\">\n<RegisterMap \"all\">\n  MaxRegisters 16\n  EvenCount true\n  MaxGap 3\n");
	unsigned addr = 0;
	for (size_t t = 0; t < 8; t++)
		for (size_t o = 0; o < 4; o++) {
			n += (size_t)snprintf(text + n, sizeof text - n,
					      "  <Register \"r_%s_%s\">\n    Address %u\n    Function %d\n"
					      "    Type \"%s\"\n    WordOrder \"%s\"\n    Scale %s\n    Unit \"%s\"\n"
					      "  </Register>\n",
					      types[t], orders[o], addr, (t + o) % 2 ? 4 : 3, types[t], orders[o],
					      o == 0 ? "1" : o == 1 ? "0.001" : o == 2 ? "1000" : "-2.5",
					      o == 0 ? "W" : o == 1 ? "kWh" : o == 2 ? "V" : "furlongs");
			addr += 4 + (unsigned)(t % 3);
		}
	n += (size_t)snprintf(text + n, sizeof text - n,
			      "</RegisterMap>\n<Meter \"all\">\n  Protocol \"modbus\"\n  Device \"tcp://127.0.0.1:1502\"\n"
			      "  Slave 0\n  RegisterMap \"all\"\n</Meter>\n</Plugin>\n");
	put("map-all-types.conf", text);

	static const struct {
		const char *name, *map_opts, *reg;
	} bad[] = {
		{"map-bad-type", "", "    Address 1\n    Type \"float\"\n"},
		{"map-bad-order", "", "    Address 1\n    WordOrder \"ACBD\"\n"},
		{"map-bad-function", "", "    Address 1\n    Function 6\n"},
		{"map-bad-address", "", "    Address 65536\n"},
		{"map-no-address", "", "    Type \"uint16\"\n"},
		{"map-end-address", "", "    Address 65534\n    Type \"uint32\"\n"},
		{"map-bad-scale", "", "    Address 1\n    Scale 0\n"},
		{"map-scale-digits", "", "    Address 1\n    Scale 0.1234567890123456789\n"},
		{"map-scale-tiny", "", "    Address 1\n    Scale 1e-30\n"},
		{"map-bad-obis", "", "    Address 1\n    Obis \"1-0:1.8\"\n"},
		{"map-long-unit", "", "    Address 1\n    Unit \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\n"},
		{"map-unknown-opt", "", "    Address 1\n    Length 2\n"},
		{"map-bad-max", "  MaxRegisters 126\n", "    Address 1\n"},
		{"map-zero-max", "  MaxRegisters 0\n", "    Address 1\n"},
		{"map-odd-even", "  MaxRegisters 3\n  EvenCount true\n", "    Address 1\n"},
		{"map-wide", "  MaxRegisters 1\n", "    Address 1\n    Type \"uint32\"\n"},
		{"map-bad-gap", "  MaxGap 126\n", "    Address 1\n"},
		{"map-bad-even", "  EvenCount \"sometimes\"\n", "    Address 1\n"},
		{"map-unknown-map-opt", "  Vendor \"x\"\n", "    Address 1\n"},
		{"map-reg-twice-opt", "", "    Address 1\n    Address 2\n"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char name[96];
		snprintf(name, sizeof name, "%s.conf", bad[i].name);
		putf(name, "<RegisterMap \"m\">\n%s  <Register \"v\">\n%s  </Register>\n</RegisterMap>\n"
			   "<Meter \"x\">\n  Protocol \"modbus\"\n  Device \"/dev/ttyUSB3\"\n  RegisterMap \"m\"\n</Meter>\n",
		     bad[i].map_opts, bad[i].reg);
	}
	put("map-overlap.conf",
	    "<RegisterMap \"m\">\n  <Register \"a\">\n    Address 0\n    Type \"uint32\"\n  </Register>\n"
	    "  <Register \"b\">\n    Address 1\n  </Register>\n</RegisterMap>\n"
	    "<Meter \"x\">\n  Protocol \"modbus\"\n  Device \"/dev/ttyUSB3\"\n  RegisterMap \"m\"\n</Meter>\n");
	put("map-dup-reg.conf",
	    "<RegisterMap \"m\">\n  <Register \"a\">\n    Address 0\n  </Register>\n"
	    "  <Register \"a\">\n    Address 4\n  </Register>\n</RegisterMap>\n"
	    "<Meter \"x\">\n  Protocol \"modbus\"\n  Device \"/dev/ttyUSB3\"\n  RegisterMap \"m\"\n</Meter>\n");
	put("map-dup-map.conf",
	    "<RegisterMap \"m\">\n  <Register \"a\">\n    Address 0\n  </Register>\n</RegisterMap>\n"
	    "<RegisterMap \"M\">\n  <Register \"a\">\n    Address 0\n  </Register>\n</RegisterMap>\n");
	put("map-builtin-name.conf",
	    "<RegisterMap \"sdm630\">\n  <Register \"a\">\n    Address 0\n  </Register>\n</RegisterMap>\n");
	put("map-empty.conf",
	    "<RegisterMap \"m\">\n</RegisterMap>\n"
	    "<Meter \"x\">\n  Protocol \"modbus\"\n  Device \"/dev/ttyUSB3\"\n  RegisterMap \"m\"\n</Meter>\n");
	put("map-unused.conf",
	    "<RegisterMap \"spare\">\n  <Register \"a\">\n    Address 0\n  </Register>\n</RegisterMap>\n"
	    "<Meter \"x\">\n  Protocol \"dsmr\"\n  Device \"/dev/ttyUSB0\"\n</Meter>\n");
	put("map-bad-reg-name.conf",
	    "<RegisterMap \"m\">\n  <Register \"Bad-Name\">\n    Address 0\n  </Register>\n</RegisterMap>\n");
	put("map-no-name.conf", "<RegisterMap>\n  <Register \"a\">\n    Address 0\n  </Register>\n</RegisterMap>\n");
	put("map-model-and-map.conf",
	    "<RegisterMap \"m\">\n  <Register \"a\">\n    Address 0\n  </Register>\n</RegisterMap>\n"
	    "<Meter \"x\">\n  Protocol \"modbus\"\n  Device \"/dev/ttyUSB3\"\n  RegisterMap \"m\"\n"
	    "  Model \"sdm120\"\n</Meter>\n");
	put("map-neither.conf", "<Meter \"x\">\n  Protocol \"modbus\"\n  Device \"/dev/ttyUSB3\"\n</Meter>\n");
	/* a map that needs many requests: 200 registers, MaxRegisters 1 */
	n = 0;
	n += (size_t)snprintf(text + n, sizeof text - n, "<RegisterMap \"many\">\n  MaxRegisters 1\n  MaxGap 0\n");
	for (unsigned i = 0; i < 200; i++)
		n += (size_t)snprintf(text + n, sizeof text - n, "<Register \"r%u\">\nAddress %u\n</Register>\n", i,
				      i * 2);
	n += (size_t)snprintf(text + n, sizeof text - n,
			      "</RegisterMap>\n<Meter \"many\">\nProtocol \"modbus\"\nDevice \"/dev/ttyUSB3\"\n"
			      "RegisterMap \"many\"\n</Meter>\n");
	put("map-many-requests.conf", text);
}

static void bus_seeds(void)
{
	put("bus-modbus-ok.conf",
	    "<Plugin smartmeter>\n"
	    "  <Meter \"a\">\n    Protocol \"modbus\"\n    Device \"/dev/ttyUSB3\"\n    Slave 1\n    Model \"sdm630\"\n  </Meter>\n"
	    "  <Meter \"b\">\n    Protocol \"modbus\"\n    Device \"/dev/ttyUSB3\"\n    Slave 2\n    Model \"em340\"\n  </Meter>\n"
	    "  <Meter \"c\">\n    Protocol \"modbus\"\n    Device \"/dev/ttyUSB3\"\n    Slave 3\n    Model \"abb-b23\"\n"
	    "    Baudrate 9600\n  </Meter>\n</Plugin>\n");
	put("bus-modbus-same-slave.conf",
	    "<Meter \"a\">\n  Protocol \"modbus\"\n  Device \"/dev/ttyUSB3\"\n  Slave 5\n  Model \"sdm630\"\n</Meter>\n"
	    "<Meter \"b\">\n  Protocol \"modbus\"\n  Device \"/dev/ttyUSB3\"\n  Slave 5\n  Model \"sdm120\"\n</Meter>\n");
	put("bus-modbus-default-slave.conf",
	    "<Meter \"a\">\n  Protocol \"modbus\"\n  Device \"/dev/ttyUSB3\"\n  Model \"sdm630\"\n</Meter>\n"
	    "<Meter \"b\">\n  Protocol \"modbus\"\n  Device \"/dev/ttyUSB3\"\n  Slave 1\n  Model \"sdm120\"\n</Meter>\n");
	put("bus-modbus-baud.conf",
	    "<Meter \"a\">\n  Protocol \"modbus\"\n  Device \"/dev/ttyUSB3\"\n  Slave 1\n  Model \"sdm630\"\n  Baudrate 19200\n</Meter>\n"
	    "<Meter \"b\">\n  Protocol \"modbus\"\n  Device \"/dev/ttyUSB3\"\n  Slave 2\n  Model \"sdm120\"\n</Meter>\n");
	put("bus-modbus-tcp-lines.conf",
	    "<Meter \"a\">\n  Protocol \"modbus\"\n  Device \"tcp://127.0.0.1:502\"\n  Slave 1\n  Model \"sdm630\"\n  Baudrate 19200\n</Meter>\n"
	    "<Meter \"b\">\n  Protocol \"modbus\"\n  Device \"tcp://127.0.0.1:502\"\n  Slave 2\n  Model \"sdm120\"\n</Meter>\n");
	put("bus-modbus-rtutcp.conf",
	    "<Meter \"a\">\n  Protocol \"modbus\"\n  Device \"rtu+tcp://127.0.0.1:5020\"\n  Slave 1\n  Model \"sdm630\"\n</Meter>\n"
	    "<Meter \"b\">\n  Protocol \"modbus\"\n  Device \"rtu+tcp://127.0.0.1:5020\"\n  Slave 2\n  Model \"iem3000\"\n  Parity \"even\"\n</Meter>\n");
	put("bus-modbus-dsmr.conf",
	    "<Meter \"a\">\n  Protocol \"modbus\"\n  Device \"/dev/ttyUSB0\"\n  Model \"sdm630\"\n  Baudrate 115200\n</Meter>\n"
	    "<Meter \"b\">\n  Protocol \"dsmr\"\n  Device \"/dev/ttyUSB0\"\n</Meter>\n");
	put("bus-modbus-file.conf",
	    "<Meter \"a\">\n  Protocol \"modbus\"\n  Device \"file:/tmp/x\"\n  Model \"sdm630\"\n</Meter>\n");
	put("bus-modbus-ignore.conf",
	    "<Meter \"a\">\n  Protocol \"modbus\"\n  Device \"/dev/ttyUSB3\"\n  Model \"sdm630\"\n  IgnoreChecksum true\n</Meter>\n");
	put("bus-modbus-timeout.conf",
	    "<Meter \"a\">\n  Protocol \"modbus\"\n  Device \"/dev/ttyUSB3\"\n  Model \"sdm630\"\n  Timeout 11\n</Meter>\n");
	put("bus-dsmr-baud.conf",
	    "<Meter \"a\">\n  Protocol \"dsmr\"\n  Device \"/dev/ttyUSB0\"\n</Meter>\n"
	    "<Meter \"b\">\n  Protocol \"dsmr\"\n  Device \"/dev/ttyUSB0\"\n  Baudrate 9600\n</Meter>\n");
	put("bus-dsmr-sml.conf",
	    "<Meter \"a\">\n  Protocol \"sml\"\n  Device \"/dev/ttyUSB0\"\n</Meter>\n"
	    "<Meter \"b\">\n  Protocol \"dsmr\"\n  Device \"/dev/ttyUSB0\"\n  Baudrate 9600\n</Meter>\n");
	put("bus-dsmr-parity.conf",
	    "<Meter \"a\">\n  Protocol \"dsmr\"\n  Device \"/dev/ttyUSB0\"\n  Parity \"even\"\n  DataBits 7\n</Meter>\n"
	    "<Meter \"b\">\n  Protocol \"dsmr\"\n  Device \"/dev/ttyUSB0\"\n  DataBits 7\n</Meter>\n");
	put("bus-iec-ok.conf",
	    "<Meter \"a\">\n  Protocol \"iec62056-21\"\n  Device \"/dev/ttyUSB2\"\n  Address \"1001\"\n</Meter>\n"
	    "<Meter \"b\">\n  Protocol \"iec62056-21\"\n  Device \"/dev/ttyUSB2\"\n  Address \"1002\"\n  Mode \"C\"\n</Meter>\n");
	put("bus-iec-noaddr.conf",
	    "<Meter \"a\">\n  Protocol \"iec62056-21\"\n  Device \"/dev/ttyUSB2\"\n  Address \"1001\"\n</Meter>\n"
	    "<Meter \"b\">\n  Protocol \"iec62056-21\"\n  Device \"/dev/ttyUSB2\"\n</Meter>\n");
	put("bus-iec-neither.conf",
	    "<Meter \"a\">\n  Protocol \"iec62056-21\"\n  Device \"/dev/ttyUSB2\"\n</Meter>\n"
	    "<Meter \"b\">\n  Protocol \"iec62056-21\"\n  Device \"/dev/ttyUSB2\"\n</Meter>\n");
	put("bus-iec-sameaddr.conf",
	    "<Meter \"a\">\n  Protocol \"iec62056-21\"\n  Device \"/dev/ttyUSB2\"\n  Address \"42\"\n</Meter>\n"
	    "<Meter \"b\">\n  Protocol \"iec62056-21\"\n  Device \"/dev/ttyUSB2\"\n  Address \"42\"\n</Meter>\n");
	put("bus-iec-push.conf",
	    "<Meter \"a\">\n  Protocol \"iec62056-21\"\n  Device \"/dev/ttyUSB2\"\n  Mode \"D\"\n</Meter>\n"
	    "<Meter \"b\">\n  Protocol \"iec62056-21\"\n  Device \"/dev/ttyUSB2\"\n  Address \"42\"\n</Meter>\n");
	put("bus-iec-push-timeout.conf",
	    "<Meter \"a\">\n  Protocol \"iec62056-21\"\n  Device \"/dev/ttyUSB2\"\n  Mode \"D\"\n  Timeout 10\n"
	    "  Baudrate 9600\n</Meter>\n"
	    "<Meter \"b\">\n  Protocol \"iec62056-21\"\n  Device \"/dev/ttyUSB5\"\n  Timeout 10\n</Meter>\n");
	put("bus-dup-name.conf",
	    "<Meter \"a\">\n  Protocol \"dsmr\"\n  Device \"/dev/ttyUSB0\"\n</Meter>\n"
	    "<Meter \"a\">\n  Protocol \"sml\"\n  Device \"/dev/ttyUSB1\"\n</Meter>\n");
	put("bus-many.conf",
	    "<Plugin smartmeter>\n"
	    "  <Meter \"p1\">\n    Protocol \"dsmr\"\n    Device \"/dev/ttyUSB0\"\n  </Meter>\n"
	    "  <Meter \"ehz\">\n    Protocol \"sml\"\n    Device \"/dev/ttyUSB1\"\n  </Meter>\n"
	    "  <Meter \"evn\">\n    Protocol \"dlms\"\n    Device \"/dev/ttyUSB2\"\n    Key \"0F1E2D3C4B5A69788796A5B4C3D2E1F0\"\n  </Meter>\n"
	    "  <Meter \"dd3\">\n    Protocol \"iec62056-21\"\n    Device \"/dev/ttyUSB4\"\n    Mode \"D\"\n  </Meter>\n"
	    "  <Meter \"sdm\">\n    Protocol \"modbus\"\n    Device \"/dev/ttyUSB3\"\n    Model \"sdm630\"\n    Interval 1\n  </Meter>\n"
	    "</Plugin>\n");
}

static void syntax_seeds(void)
{
	put("syn-empty.conf", "");
	put("syn-comment.conf", "# nothing but a comment\n");
	put("syn-no-meter.conf", "<Plugin smartmeter>\n</Plugin>\n");
	put("syn-other-plugins.conf",
	    "Hostname \"box\"\nInterval 10\nLoadPlugin syslog\nLoadPlugin smartmeter\n"
	    "<Plugin syslog>\n  LogLevel info\n</Plugin>\n"
	    "<Plugin smartmeter>\n  <Meter \"home\">\n    Protocol \"dsmr\"\n    Device \"/dev/ttyUSB0\"\n  </Meter>\n</Plugin>\n"
	    "<Plugin network>\n  Server \"127.0.0.1\" \"25826\"\n</Plugin>\n");
	put("syn-two-plugins.conf",
	    "<Plugin smartmeter>\n  <Meter \"a\">\n    Protocol \"dsmr\"\n    Device \"/dev/ttyUSB0\"\n  </Meter>\n</Plugin>\n"
	    "<Plugin \"SmartMeter\">\n  <Meter \"b\">\n    Protocol \"sml\"\n    Device \"/dev/ttyUSB1\"\n  </Meter>\n</Plugin>\n");
	put("syn-two-plugins-dup.conf",
	    "<Plugin smartmeter>\n  <Meter \"a\">\n    Protocol \"dsmr\"\n    Device \"/dev/ttyUSB0\"\n  </Meter>\n</Plugin>\n"
	    "<Plugin smartmeter>\n  <Meter \"a\">\n    Protocol \"sml\"\n    Device \"/dev/ttyUSB1\"\n  </Meter>\n</Plugin>\n");
	put("syn-option-in-plugin.conf", "<Plugin smartmeter>\n  Debug true\n</Plugin>\n");
	put("syn-bare-option.conf", "Protocol \"dsmr\"\n");
	put("syn-meter-args.conf", "<Meter>\n  Protocol \"dsmr\"\n</Meter>\n<Meter \"a\" \"b\">\n</Meter>\n");
	put("syn-meter-number.conf", "<Meter 5>\n  Protocol \"dsmr\"\n  Device \"/dev/ttyUSB0\"\n</Meter>\n");
	put("syn-meter-badname.conf", "<Meter \"a b\">\n  Protocol \"dsmr\"\n  Device \"/dev/ttyUSB0\"\n</Meter>\n");
	put("syn-nested-block.conf",
	    "<Meter \"a\">\n  Protocol \"dsmr\"\n  Device \"/dev/ttyUSB0\"\n  <Extra>\n    X 1\n  </Extra>\n</Meter>\n");
	put("syn-escapes.conf",
	    "<Meter \"esc\">\n  Protocol \"d\\smr\"\n  Device \"/dev/tty\\\"USB0\\\\\"\n  Select \"energy_\\\n"
	    "      import\"\n</Meter>\n");
	put("syn-continuation.conf",
	    "<Meter \"c\">\n  Protocol \\\n    \"dsmr\"\n  Device \"/dev/ttyUSB0\"\n  Select \"power_import\" \\\n"
	    "    \"power_export\"\n</Meter>\n");
	put("syn-unterminated.conf", "<Meter \"u\">\n  Protocol \"dsmr\n</Meter>\n");
	put("syn-unclosed.conf", "<Meter \"u\">\n  Protocol \"dsmr\"\n");
	put("syn-mismatch.conf", "<Meter \"u\">\n  Protocol \"dsmr\"\n</Plugin>\n");
	put("syn-case-close.conf", "<METER \"u\">\n  Protocol \"dsmr\"\n  Device \"/dev/ttyUSB0\"\n</meter>\n");
	put("syn-numbers.conf",
	    "<Meter \"n\">\n  Protocol \"dsmr\"\n  Device \"/dev/ttyUSB0\"\n  Baudrate 0x1C200\n  Interval .5\n"
	    "  Timeout 2.5E1\n  DataBits +8\n</Meter>\n");
	put("syn-bad-numbers.conf",
	    "<Meter \"n\">\n  Protocol \"dsmr\"\n  Device \"/dev/ttyUSB0\"\n  Baudrate 0x\n  Interval 1e999\n</Meter>\n");
	put("syn-bools.conf",
	    "<Meter \"b\">\n  Protocol \"dsmr\"\n  Device \"/dev/ttyUSB0\"\n  IgnoreChecksum YES\n</Meter>\n");
	put("syn-ipv4.conf", "<Plugin network>\n  Server 127.0.0.1:25826\n</Plugin>\n");
	put("syn-unquoted.conf", "<Meter home>\n  Protocol dsmr\n  Device ttyUSB0\n</Meter>\n");
	put("syn-crlf.conf", "<Meter \"w\">\r\n  Protocol \"dsmr\"\r\n  Device \"/dev/ttyUSB0\"\r\n</Meter>\r\n");
	put("syn-garbage.conf", "<Meter \"g\">\n  Protocol \"dsmr\" }\n  {Device}\n</Meter>\n");
	/* nesting at and beyond the depth limit */
	char text[4096];
	size_t n = 0;
	for (int d = 0; d < SM_CFG_MAX_DEPTH + 2; d++)
		n += (size_t)snprintf(text + n, sizeof text - n, "<B%d>\n", d);
	for (int d = SM_CFG_MAX_DEPTH + 1; d >= 0; d--)
		n += (size_t)snprintf(text + n, sizeof text - n, "</B%d>\n", d);
	put("syn-deep.conf", text);
	n = 0;
	for (int d = 0; d < SM_CFG_MAX_DEPTH - 1; d++)
		n += (size_t)snprintf(text + n, sizeof text - n, "<B%d \"x\">\n", d);
	n += (size_t)snprintf(text + n, sizeof text - n, "K 1\n");
	for (int d = SM_CFG_MAX_DEPTH - 2; d >= 0; d--)
		n += (size_t)snprintf(text + n, sizeof text - n, "</B%d>\n", d);
	put("syn-deep-ok.conf", text);
	/* a long name and a long value */
	n = (size_t)snprintf(text, sizeof text, "<Meter \"");
	for (int i = 0; i < 64; i++)
		text[n++] = 'a';
	n += (size_t)snprintf(text + n, sizeof text - n, "\">\n  Protocol \"dsmr\"\n  Device \"/dev/");
	for (int i = 0; i < 1000; i++)
		text[n++] = 'x';
	snprintf(text + n, sizeof text - n, "\"\n</Meter>\n");
	put("syn-long.conf", text);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR [FILE.conf...]\n", argv[0]);
		return 2;
	}
	outdir = argv[1];
	option_seeds();
	protocol_seeds();
	register_map_seeds();
	bus_seeds();
	syntax_seeds();
	for (int i = 2; i < argc; i++)
		copy_file(argv[i]);
	printf("%d files written to %s\n", nfiles, outdir);
	return 0;
}
