#!/usr/bin/env bash
# Makes ./docker-data/node<i> (i = 0..N-1) for docker-compose.yml: each node's identity, vault
# key, admin token and node.toml, whose [[committee]] lists every member at its fixed address
# on the compose network (172.28.0.10 + i). Run from the repository root after `docker build -t mpc-node .`:
#   bash configs/docker/make-committee.sh 3 && docker compose up
set -euo pipefail
n=${1:-3}
mkdir -p docker-data
for i in $(seq 0 $((n - 1))); do
  if [ -e "docker-data/node$i/identity.key" ]; then
    echo "docker-data/node$i exists; remove docker-data to start over" >&2
    exit 1
  fi
  mkdir -p "docker-data/node$i"
  docker run --rm -v "$PWD/docker-data/node$i:/data" --user "$(id -u):$(id -g)" mpc-node \
    init --data-dir /data/node --party "$i" --listen "/ip4/172.28.0.$((10 + i))/tcp/7000" \
    --admin 0.0.0.0:8000 --metrics 0.0.0.0:9000 > "docker-data/node$i/skeleton.toml"
done
# Every config gets every member's [[committee]] entry; data lives in the volume's node/.
python3 - "$n" <<'PY'
import re, sys
n = int(sys.argv[1])
skeletons = [open(f"docker-data/node{i}/skeleton.toml").read() for i in range(n)]
entries = [re.search(r"\[\[committee\]\].*?(?=\n\[|\Z)", s, re.S).group(0).strip() for s in skeletons]
for i, s in enumerate(skeletons):
    body = re.sub(r"\[\[committee\]\].*?(?=\n\[|\Z)", "\n\n".join(entries), s, count=1, flags=re.S)
    open(f"docker-data/node{i}/node/node.toml", "w").write(body)
PY
echo "docker-data/node0..$((n - 1)) ready; admin tokens in docker-data/node<i>/node/admin.token" >&2
