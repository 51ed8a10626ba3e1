(function () {
  // The host x phase matrix: filter hosts, show only problems, expand or collapse every cell.
  var rows = Array.prototype.slice.call(document.querySelectorAll('#matrix tbody tr[data-host]'));
  var details = Array.prototype.slice.call(document.querySelectorAll('details'));
  var filter = document.getElementById('filter');
  var only = document.getElementById('only-problems');
  var shown = document.getElementById('shown');
  document.getElementById('controls').hidden = false;
  function apply() {
    var text = filter.value.trim().toLowerCase(), n = 0;
    rows.forEach(function (row) {
      var ok = (!text || row.getAttribute('data-host').toLowerCase().indexOf(text) >= 0) &&
        (!only.checked || row.classList.contains('problem'));
      row.hidden = !ok;
      if (ok) { n++; }
    });
    shown.textContent = n + ' of ' + rows.length + ' hosts shown';
  }
  function setAll(open) {
    details.forEach(function (d) {
      var row = d.closest('tr');
      if (!row || !row.hidden) { d.open = open; }
    });
  }
  filter.addEventListener('input', apply);
  only.addEventListener('change', apply);
  document.getElementById('expand').addEventListener('click', function () { setAll(true); });
  document.getElementById('collapse').addEventListener('click', function () { setAll(false); });
  apply();
})();
