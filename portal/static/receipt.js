/* Receipt: the print button. */
document.getElementById("print").addEventListener("click", function () { window.print(); });
