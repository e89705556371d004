{
  "targets": [
    {
      "target_name": "binlog_native",
      "sources": ["native/binlog_native.c"],
      "cflags": ["-O3", "-Wall", "-Wextra"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
