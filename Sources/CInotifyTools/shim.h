// libinotifytools: its header forward-declares struct inotify_event, so <sys/inotify.h>
// comes first. The event's name is a flexible array member that Swift cannot import;
// lmdflow_inotify_event_name returns it.
#ifndef LMDFLOW_CINOTIFYTOOLS_SHIM_H
#define LMDFLOW_CINOTIFYTOOLS_SHIM_H
#include <sys/inotify.h>
#include <inotifytools/inotifytools.h>

static inline const char *lmdflow_inotify_event_name(const struct inotify_event *event) {
    return event->len > 0 ? event->name : "";
}
#endif
