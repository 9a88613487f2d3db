/*
 * dicom_vr.c - VR codes and transfer syntaxes, as the parser, the writer
 * and the dictionary lookups of the bridge all need them (fs/dicom_impl.h).
 */
#include "dicom_impl.h"

#include <errno.h>
#include <string.h>

#include "dicom.h"

static const char VR_ALL[] = "AEASATCSDADSDTFDFLISLOLTOBODOFOLOVOW"
			     "PNSHSLSQSSSTSVTMUCUIULUNURUSUTUV";
static const char VR_32[] = "OBODOFOLOVOWSQSVUCUNURUTUV";

bool dicom_vr_in(const char *list, const char *vr)
{
	for (; *list; list += 2)
		if (list[0] == vr[0] && list[1] == vr[1])
			return true;
	return false;
}

bool dicom_vr_valid(const char *vr)
{
	return dicom_vr_in(VR_ALL, vr);
}

bool dicom_vr_is_32(const char *vr)
{
	return dicom_vr_in(VR_32, vr);
}

bool dicom_uid_ok(const char *u)
{
	size_t n = strlen(u);

	if (!n || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((u[i] >= '0' && u[i] <= '9') || u[i] == '.'))
			return false;
	return true;
}

int dicom_ts_encoding(const char *ts, struct dicom_enc *en, bool *deflated)
{
	if (!dicom_uid_ok(ts))
		return -EBADMSG;
	*deflated = false;
	en->be = false;
	en->explicit_vr = true;
	if (!strcmp(ts, DICOM_TS_IMPLICIT_LE)) {
		en->explicit_vr = false;
		return 0;
	}
	if (!strcmp(ts, DICOM_TS_EXPLICIT_BE)) {
		en->be = true;
		return 0;
	}
	if (!strcmp(ts, DICOM_TS_DEFLATED_LE)) {
		*deflated = true;
		return 0;
	}
	/* every other standard transfer syntax (the compressed ones) is
	 * explicit VR little endian; private ones we do not trust */
	if (!strncmp(ts, "1.2.840.10008.1.2.", 18) &&
	    strcmp(ts, "1.2.840.10008.1.2.4.95") /* JPIP deflate */)
		return 0;
	return -EBADMSG;
}
