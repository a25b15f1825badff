/*
 * limits.h - the sizes the three programs must agree on, in one place.
 *
 * A message PostOffice acknowledges with the default settings is one that
 * PostMaster serves and PostMan takes:
 *
 *   PostOffice  refuses a message over --max-size (LIMIT_MESSAGE_SIZE) at
 *               MAIL or DATA, and one whose spool file would be over
 *               LIMIT_SPOOL_FILE before it answers 250 (552 5.3.4); it
 *               refuses to start with a --max-size over LIMIT_SPOOL_FILE.
 *   PostMaster  serves spool files up to LIMIT_SPOOL_FILE (a larger one
 *               was not written by PostOffice: quarantined); a lease
 *               response never exceeds the client's max_bytes, and a
 *               message that alone would is dead-lettered with the reason.
 *   PostMan     takes responses up to --max-response (LIMIT_RESPONSE), and
 *               asks PostMaster for no more (max_bytes): the largest spool
 *               file always fits in one response.
 */
#ifndef POSTOFFICE_LIMITS_H
#define POSTOFFICE_LIMITS_H

/* PostOffice's --max-size default: Postfix's message_size_limit. */
#define LIMIT_MESSAGE_SIZE 10240000UL
/* The largest spool file written, served and read back. */
#define LIMIT_SPOOL_FILE (256UL * 1024 * 1024)
/* What a lease response holds besides one message's file: its head and
 * tail, and the "id" given to a file the original PostOffice wrote. */
#define LIMIT_LEASE_OVERHEAD 4096UL
/* PostMan's --max-response default. */
#define LIMIT_RESPONSE (LIMIT_SPOOL_FILE + LIMIT_LEASE_OVERHEAD)

#endif
