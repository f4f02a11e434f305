// libxml2 without its ICU declarations: Debian builds libxml2 with ICU, and ICU's
// UErrorCode clashes with Foundation's _FoundationICU. Dropping LIBXML_ICU_ENABLED only
// removes two trailing pointer fields of xmlCharEncodingHandler, which we never embed.
#ifndef LMDFLOW_CLIBXML2_SHIM_H
#define LMDFLOW_CLIBXML2_SHIM_H
#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlwriter.h>
#include <libxml/xmlerror.h>
#include <libxml/xpath.h>
#endif
