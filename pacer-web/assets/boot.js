// Starts the console: applies the operator's theme (see theme.rs) before anything is drawn,
// loads the wasm-bindgen glue and the module, then Dioxus mounts on #main.
import init from "/pacer-web.js";

try {
  const theme = localStorage.getItem("pacer.theme");
  if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
} catch {
  // Storage refused: the system's theme.
}

init({ module_or_path: "/pacer-web_bg.wasm" }).catch((error) => {
  const main = document.getElementById("main");
  if (main) {
    main.textContent = "The Pacer console failed to start: " + error;
  }
});
