// Loaded between require.js and the Jupyter widget manager (embed-amd.js); see ../offline_assets.py.
(function () {
  // The widget manager looks for its own files (fonts) beside its module's URL: make that this folder.
  var here = document.currentScript.src.replace(/[^/]*$/, "");
  window.require.config({paths: {"@jupyter-widgets/html-manager/dist": here + "html-manager"}});

  // The widgets typeset their labels with MathJax 2's MathJax.Hub.Queue; the book loads MathJax 3.
  function typeset(command) {
    var mathjax = window.MathJax, element = command[2];
    if (mathjax && mathjax.startup && mathjax.startup.promise && mathjax.typesetPromise) {
      return mathjax.startup.promise.then(function () { return mathjax.typesetPromise([element]); });
    }
    return Promise.resolve();  // MathJax has not started: its first pass typesets the whole page
  }
  function addHub() {
    if (window.MathJax && !window.MathJax.Hub) window.MathJax.Hub = {Queue: typeset};
  }
  addHub();
  window.addEventListener("DOMContentLoaded", addHub);
})();
