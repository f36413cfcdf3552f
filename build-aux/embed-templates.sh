#!/bin/sh
# Turn templates/<lang>/<message>.txt files into a C table, so the daemon
# always carries every shipped text (an operator's template_dir and the
# installed files are searched before it).
set -e
echo '/* Generated from templates/ by build-aux/embed-templates.sh. */'
echo '#include "templates.h"'
echo 'const struct templates_builtin templates_builtin[] = {'
for f in "$@"; do
  lang=$(basename "$(dirname "$f")")
  name=$(basename "$f" .txt)
  echo "	{ \"$lang/$name\","
  # an empty file is an empty text, never a missing one
  echo '		""'
  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/		"/' -e 's/$/\\n"/' "$f"
  echo '	},'
done
echo '};'
echo 'const size_t templates_builtin_count = sizeof(templates_builtin) / sizeof(templates_builtin[0]);'
