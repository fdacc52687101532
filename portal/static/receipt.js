/* Receipt: the print button (shown only where it works: with JavaScript). */
(function () {
  var button = document.getElementById("print");
  button.hidden = false;
  button.addEventListener("click", function () { window.print(); });
})();
