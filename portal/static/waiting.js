/* Waiting page: polls at the interval the server names; enters once admitted. */
(function(){
  var box=document.getElementById("status"), token=box.dataset.token, first=null;
  var t=box.dataset, num=new Intl.NumberFormat(document.documentElement.lang||"id");
  function fmt(r){ if(!r) return t.msgUnknown;
    if(r[1]<60) return t.msgUnderMinute;
    return num.format(Math.floor(r[0]/60))+"–"+num.format(Math.ceil(r[1]/60))+" "+t.msgMinutes; }
  function enter(){ var f=document.getElementById("enter-form"); if(f) f.submit(); }
  function poll(){
    fetch("/api/v1/queue/"+encodeURIComponent(token),{credentials:"same-origin",headers:{"Accept":"application/json"}})
    .then(function(r){ if(r.status===503) throw 0; return r.json(); })
    .then(function(d){
      if(d.state==="admitted"){ if(box.dataset.state!=="admitted") location.reload(); else enter(); return; }
      if(d.state!=="waiting"){ location.reload(); return; }
      if(d.awaiting_draw){ setTimeout(poll,d.poll_after_ms); return; }
      var note=document.getElementById("draw-note"); if(note) note.hidden=true;
      if(first===null) first=d.position;
      document.getElementById("position").textContent=num.format(d.position);
      document.getElementById("eta").textContent=fmt(d.eta_range_seconds);
      document.getElementById("bar").style.width=Math.max(5,Math.min(100,100*(1-(d.position-1)/Math.max(first,1))))+"%";
      setTimeout(poll,d.poll_after_ms);
    })
    .catch(function(){ setTimeout(poll,10000); });
  }
  if(box.dataset.state==="admitted") enter(); else setTimeout(poll,Math.min(+box.dataset.poll,5000));
})();
