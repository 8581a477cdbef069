/* curve.h: the keys of ZeroMQ CURVE for tcp:// links (lib/stream/curve.c, mae(7) SECURITY). */
#ifndef MAE_CURVE_H
#define MAE_CURVE_H

#include <stddef.h>

/* Make a run's keys in dir (created if missing): server.key and server.pub, client.key and
 * client.pub, and clients.pub listing client.pub; with client = NAME, instead a further client
 * pair NAME.key and NAME.pub, its public key appended to clients.pub. Never overwrites a key.
 * Secret keys are written mode 0600. 0, or -1 with "path: what" in err. */
int mae_curve_keygen(const char *dir, const char *client, char *err, size_t errn);

#endif
