#!/bin/sh
# Turn schema/NNNN_name.sql files into a C table of migrations, so the
# daemon carries its schema and knows the newest version it understands.
set -e
echo '/* Generated from the schema SQL files by build-aux/embed-sql.sh. */'
echo '#include "migrate.h"'
echo 'const struct migrate_step migrate_steps[] = {'
for f in "$@"; do
  base=$(basename "$f" .sql)
  ver=$(echo "$base" | sed 's/_.*//; s/^0*//')
  echo "	{ $ver, \"$base\","
  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/		"/' -e 's/$/\\n"/' "$f"
  echo '	},'
done
echo '};'
echo 'const int migrate_step_count = (int)(sizeof(migrate_steps) / sizeof(migrate_steps[0]));'
