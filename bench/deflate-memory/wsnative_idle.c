/* See run.sh: RSS per connection, N connections that each echo one text. */
#include "wsnative.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <stdatomic.h>
static atomic_long opened, echoed, errors;
static long rss(void){FILE*f=fopen("/proc/self/status","r");char l[256];long v=0;while(fgets(l,sizeof l,f))if(!strncmp(l,"VmRSS:",6))v=atol(l+6);fclose(f);return v;}
static void on_open(ws_socket*s,void*u){(void)u;atomic_fetch_add(&opened,1);ws_send_text(s,"{\"type\":\"hello\",\"id\":12345678}",30);}
static void on_msg(ws_socket*s,const uint8_t*d,size_t n,ws_message_type k,void*u){(void)s;(void)d;(void)n;(void)k;(void)u;atomic_fetch_add(&echoed,1);}
static void on_err(ws_socket*s,const char*m,void*u){(void)s;(void)u;atomic_fetch_add(&errors,1);fprintf(stderr,"error %s\n",m);}
int main(int argc,char**argv){const char*url=argv[1];long n=atol(argv[2]);int comp=atoi(argv[3]);
 ws_options*o=ws_options_new();ws_options_set_compression(o,comp);
 ws_callbacks cb={.on_open=on_open,.on_message=on_msg,.on_error=on_err};
 ws_socket*w=NULL;ws_new(url,NULL,0,o,&cb,&w);while(atomic_load(&echoed)<1)usleep(1000);
 atomic_store(&echoed,0);atomic_store(&opened,0);
 ws_socket**ss=malloc(n*sizeof*ss);long r0=rss();
 for(long i=0;i<n;i++) if(ws_new(url,NULL,0,o,&cb,&ss[i])!=WS_RESULT_OK){fprintf(stderr,"new: %s\n",ws_last_error());return 1;}
 for(int t=0;t<60000&&atomic_load(&echoed)<n;t++)usleep(1000);
 long r1=rss();printf("ext=%s echoed=%ld errors=%ld after echo: %.1f KiB/conn\n",ws_extensions(ss[0]),atomic_load(&echoed),atomic_load(&errors),(r1-r0)/(double)n);
 sleep(7);long r2=rss();printf("after 7 s idle: %.1f KiB/conn\n",(r2-r0)/(double)n);return 0;}
