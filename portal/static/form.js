/* The form: saves drafts as the visitor types, uploads files, warns before idle expiry. */
(function(){
  var form=document.getElementById("reg-form"), t=form.dataset, timer=null, warnAt=null, saved=document.getElementById("saved");
  var csrf=form.elements["csrf_token"].value, pending=false;
  function ended(){ document.getElementById("idle-warning").hidden=true; document.getElementById("session-ended").hidden=false; }
  function arm(idle){ clearTimeout(warnAt); warnAt=setTimeout(function(){document.getElementById("idle-warning").hidden=false;}, Math.max(0,(idle-90))*1000); }
  function fields(){ var p=new URLSearchParams(); Array.prototype.forEach.call(form.elements,function(el){ if(el.name && el.type!=="file") p.append(el.name,el.value); }); return p; }
  function save(){
    pending=false; clearTimeout(timer); timer=null;
    fetch("/formulir/draf",{method:"POST",body:fields(),credentials:"same-origin"})
      .then(function(r){return r.json();})
      .then(function(d){ saved.textContent=d.saved?t.msgSaved:""; if(d.recovery_sent){ document.getElementById("recovery-sent").hidden=false; } if(d.session){ document.getElementById("idle-warning").hidden=true; arm(d.idle_seconds);} else if(d.saved){ ended(); } })
      .catch(function(){ saved.textContent=t.msgRetry; pending=true; setTimeout(save,5000); });
  }
  form.addEventListener("input",function(e){ if(e.target.type==="file") return; clearTimeout(timer); timer=setTimeout(save,800); });
  form.addEventListener("change",function(e){ if(e.target.type==="file"){ send(e.target); } else { save(); } });
  Array.prototype.forEach.call(form.querySelectorAll("fieldset"),function(fs){ fs.addEventListener("focusout",function(e){ if(!fs.contains(e.relatedTarget)) save(); }); });
  function send(input){
    var file=input.files[0], note=document.getElementById("have-"+input.name); if(!file) return;
    var body=new FormData(); body.append("csrf_token",csrf); body.append("jenis",input.name); body.append("berkas",file);
    note.textContent=t.msgUploading;
    fetch("/formulir/berkas",{method:"POST",body:body,credentials:"same-origin"})
      .then(function(r){return r.json();})
      .then(function(d){ if(d.saved){ note.textContent=t.msgUploaded+": "+d.name+" ("+Math.round(d.size/1024)+" KB)"; input.value=""; } else { note.textContent=d.error.message; } })
      .catch(function(){ note.textContent=t.msgUploadFailed; });
  }
  var sent=false; form.addEventListener("submit",function(e){ if(sent){e.preventDefault();return;} sent=true; document.getElementById("submit").disabled=true; });
  var box=document.querySelector("#identity form");
  if(box) box.addEventListener("submit",function(){ /* the values as typed now, not as loaded */
    [["nik","nik"],["phone","telepon"],["email","email"]].forEach(function(p){ if(form.elements[p[1]]) box.elements[p[0]].value=form.elements[p[1]].value; }); });
  window.addEventListener("pagehide",function(){ if(!sent && (pending||timer)){ navigator.sendBeacon("/formulir/draf",fields()); } });
  arm(+form.dataset.idle);
})();
