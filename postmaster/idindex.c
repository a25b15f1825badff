/*
 * idindex.c - ordered set of spool ids on a balanced tree (GLib's GTree):
 * insert, remove and "oldest" are all O(log n).
 */
#include "postmaster/idindex.h"

#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "common/spool.h"

struct idindex {
	GTree *tree;		/* id -> same id; the key owns the string */
};

static gint
id_cmp(gconstpointer a, gconstpointer b, gpointer unused)
{
	(void)unused;
	return strcmp(a, b);
}

struct idindex *
idindex_new(void)
{
	struct idindex *ix;

	if ((ix = calloc(1, sizeof(*ix))) == NULL)
		return NULL;
	ix->tree = g_tree_new_full(id_cmp, NULL, g_free, NULL);
	return ix;
}

void
idindex_free(struct idindex *ix)
{
	if (ix == NULL)
		return;
	g_tree_destroy(ix->tree);
	free(ix);
}

bool
idindex_add(struct idindex *ix, const char *id)
{
	char *key;

	if (!spool_id_valid(id) || g_tree_lookup(ix->tree, id) != NULL)
		return false;
	key = g_strdup(id);
	g_tree_insert(ix->tree, key, key);
	return true;
}

bool
idindex_remove(struct idindex *ix, const char *id)
{
	return g_tree_remove(ix->tree, id);
}

bool
idindex_contains(const struct idindex *ix, const char *id)
{
	return g_tree_lookup(ix->tree, id) != NULL;
}

size_t
idindex_count(const struct idindex *ix)
{
	return (size_t)g_tree_nnodes(ix->tree);
}

const char *
idindex_first(const struct idindex *ix)
{
	GTreeNode *n = g_tree_node_first(ix->tree);

	return n != NULL ? g_tree_node_key(n) : NULL;
}

void
idindex_clear(struct idindex *ix)
{
	g_tree_remove_all(ix->tree);
}
