#!/usr/bin/env bash
# Spark needs a Java 17+ runtime. Say exactly how to get one when it is missing.
if ! command -v java >/dev/null 2>&1; then
  echo "error: Java is not installed; Spark (pyspark) needs a Java 17 runtime." >&2
  echo "  fix (Debian/Ubuntu): sudo apt-get update && sudo apt-get install -y openjdk-17-jre-headless" >&2
  echo "  fix (macOS):         brew install openjdk@17" >&2
  exit 1
fi
major=$(java -version 2>&1 | awk -F'"' '/version/ {split($2, v, "."); print (v[1] == "1" ? v[2] : v[1])}')
if [ -n "$major" ] && [ "$major" -lt 17 ]; then
  echo "error: Java $major found; pyspark 4 needs Java 17 or newer." >&2
  echo "  fix (Debian/Ubuntu): sudo apt-get install -y openjdk-17-jre-headless" >&2
  exit 1
fi
