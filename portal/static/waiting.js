/* Waiting page: polls at the interval the server names; enters once admitted. */
(function(){
  var box=document.getElementById("status"), token=box.dataset.token, first=null;
  var t=box.dataset, num=new Intl.NumberFormat(document.documentElement.lang||"id");
  function fmt(r){ if(!r) return t.msgUnknown;
    if(r[1]<60) return t.msgUnderMinute;
    return num.format(Math.floor(r[0]/60))+"–"+num.format(Math.ceil(r[1]/60))+" "+t.msgMinutes; }
  function set(id,text){ var el=document.getElementById(id); if(el.textContent!==text) el.textContent=text; }
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
      // Only what changed is written: the live region then announces real moves only.
      set("position",num.format(d.position)); set("eta",fmt(d.eta_range_seconds));
      // The share of the way from where this page started: someone first in line starts at
      // the start, not at a full bar.
      var done=first>0?(first-d.position)/first:0;
      document.getElementById("bar").style.width=(5+95*Math.max(0,Math.min(1,done)))+"%";
      setTimeout(poll,d.poll_after_ms);
    })
    .catch(function(){ setTimeout(poll,10000); });
  }
  if(box.dataset.state==="admitted") enter(); else setTimeout(poll,Math.min(+box.dataset.poll,5000));
})();
