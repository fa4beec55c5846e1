/* clustersim: Solara inlines this file into every page (as its custom.js). When the
   page's front end (Solara's Vuetify app, require.js) did not load, the page would stay
   white: say so in plain text instead. The server's terminal names the missing files and
   the command that fixes them (clustersim/dashboard/assets.py). */
window.addEventListener("load", function () {
  var loaded = typeof window.requirejs === "function" && window.solara && window.solara.WidgetManager;
  if (loaded) {
    return;
  }
  var box = document.createElement("div");
  box.id = "clustersim-assets-missing";
  box.setAttribute("style", "position: fixed; inset: 0; z-index: 100000; background: #fff; " +
    "color: #222; font: 18px/1.5 sans-serif; padding: 48px; max-width: 46em;");
  var title = document.createElement("h1");
  title.textContent = "The dashboard could not load its browser files";
  title.setAttribute("style", "font-size: 28px; margin: 0 0 16px;");
  var text = document.createElement("p");
  text.textContent = "This page needs Solara's JavaScript and CSS files from the server " +
    "that runs the dashboard, and the server does not have them. Whoever started " +
    "`clustersim dashboard` finds in its terminal a line naming the missing files and " +
    "the one command that fixes it (usually: pip install \"solara-assets==1.58.1\"). " +
    "Then restart the dashboard and reload this page.";
  box.appendChild(title);
  box.appendChild(text);
  document.body.appendChild(box);
});
