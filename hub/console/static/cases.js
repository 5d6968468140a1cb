// The case page: the assign form lists only the chosen department's staff.
(function () {
  "use strict";
  document.querySelectorAll("form[data-action=assign]").forEach(function (form) {
    var department = form.querySelector("[data-department-select]");
    var person = form.querySelector("[data-assignee-select]");
    if (!department || !person) return;
    function filter() {
      var chosen = department.value;
      person.querySelectorAll("optgroup").forEach(function (group) {
        var show = !chosen || group.dataset.department === chosen;
        group.hidden = !show;
        group.disabled = !show;
      });
      var selected = person.selectedOptions[0];
      if (selected && selected.dataset.department && selected.dataset.department !== chosen) {
        person.value = "";
      }
    }
    department.addEventListener("change", filter);
    filter();
  });
})();
