{
  "targets": [
    {
      "target_name": "loxilb_native",
      "sources": ["src/addon.cc", "src/bfd_socket.cc", "src/announce.cc", "src/datapath.cc", "src/raw_socket.cc", "src/address.cc"],
      "libraries": ["-lbpf"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=gnu++17", "-Wall", "-Wextra"]
    }
  ]
}
