// Starts the console: loads the wasm-bindgen glue and the module, then Dioxus mounts on #main.
import init from "/pacer-web.js";

init({ module_or_path: "/pacer-web_bg.wasm" }).catch((error) => {
  const main = document.getElementById("main");
  if (main) {
    main.textContent = "The Pacer console failed to start: " + error;
  }
});
