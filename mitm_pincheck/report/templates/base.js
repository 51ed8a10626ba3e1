(function () {
  // Every page: a link to #id opens the <details> inside that element and focuses it, and
  // printing opens every <details> (and closes them again afterwards as they were).
  var details = Array.prototype.slice.call(document.querySelectorAll('details'));
  function openTarget() {
    var id = location.hash.slice(1);
    var cell = id && document.getElementById(id);
    var d = cell && cell.querySelector('details');
    if (d) { d.open = true; d.querySelector('summary').focus(); }
  }
  window.addEventListener('hashchange', openTarget);
  openTarget();
  var before = null;
  window.addEventListener('beforeprint', function () {
    before = details.map(function (d) { return d.open; });
    details.forEach(function (d) { d.open = true; });
  });
  window.addEventListener('afterprint', function () {
    if (before) { details.forEach(function (d, i) { d.open = before[i]; }); before = null; }
  });
})();
